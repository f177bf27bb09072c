#include "core/nn/layers.h"

#include <cmath>

#include "core/base/error.h"
#include "core/nn/init.h"

namespace tensorpar::nn {

namespace {

void check_positive(std::int64_t value, const char* layer, const char* arg) {
  check_arg(value > 0, layer, ": ", arg, " must be positive, got ", value);
}

}  // namespace

// ---- Linear ----

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool bias, Generator& gen,
               DType dtype)
    : in_features_(in_features), out_features_(out_features) {
  check_positive(in_features, "Linear", "in_features");
  check_positive(out_features, "Linear", "out_features");
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  register_parameter("weight",
                     init::uniform({out_features, in_features}, -bound, bound, gen, dtype));
  register_parameter("bias",
                     bias ? init::uniform({out_features}, -bound, bound, gen, dtype) : Tensor());
}

std::vector<Tensor> Linear::forward(const ModuleInputs& inputs) {
  return {linear(single_input(inputs), parameter("weight"), parameter("bias"))};
}

// ---- Embedding ----

Embedding::Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim, Generator& gen,
                     DType dtype)
    : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {
  check_positive(num_embeddings, "Embedding", "num_embeddings");
  check_positive(embedding_dim, "Embedding", "embedding_dim");
  register_parameter("weight", init::normal({num_embeddings, embedding_dim}, 0.0, 1.0, gen, dtype));
}

std::vector<Tensor> Embedding::forward(const ModuleInputs& inputs) {
  return {embedding(parameter("weight"), single_input(inputs))};
}

// ---- LayerNorm / RMSNorm ----

LayerNorm::LayerNorm(std::int64_t dim, double eps, bool elementwise_affine, DType dtype)
    : eps_(eps) {
  check_positive(dim, "LayerNorm", "dim");
  check_arg(eps >= 0, "LayerNorm: eps must be non-negative, got ", eps);
  register_parameter("weight", elementwise_affine ? init::constant({dim}, 1.0, dtype) : Tensor());
  register_parameter("bias", elementwise_affine ? init::constant({dim}, 0.0, dtype) : Tensor());
}

std::vector<Tensor> LayerNorm::forward(const ModuleInputs& inputs) {
  return {layer_norm(single_input(inputs), parameter("weight"), parameter("bias"), eps_)};
}

RMSNorm::RMSNorm(std::int64_t dim, double eps, DType dtype) : eps_(eps) {
  check_positive(dim, "RMSNorm", "dim");
  check_arg(eps >= 0, "RMSNorm: eps must be non-negative, got ", eps);
  register_parameter("weight", init::constant({dim}, 1.0, dtype));
}

std::vector<Tensor> RMSNorm::forward(const ModuleInputs& inputs) {
  return {rms_norm(single_input(inputs), parameter("weight"), eps_)};
}

// ---- Dropout and activations ----

Dropout::Dropout(double p, Generator* gen) : p_(p), gen_(gen) {
  check_arg(p >= 0 && p <= 1, "Dropout: p must be in [0, 1], got ", p);
}

std::vector<Tensor> Dropout::forward(const ModuleInputs& inputs) {
  const Tensor& x = single_input(inputs);
  if (!is_training() || p_ == 0) return {x};
  return {dropout(x, p_, true, gen_)};
}

std::vector<Tensor> ReLU::forward(const ModuleInputs& inputs) {
  return {relu(single_input(inputs))};
}

GELU::GELU(std::string approximate) : approximate_(std::move(approximate)) {
  check_arg(approximate_ == "none" || approximate_ == "tanh",
            "GELU: approximate must be 'none' or 'tanh', got '", approximate_, "'");
}

std::vector<Tensor> GELU::forward(const ModuleInputs& inputs) {
  return {gelu(single_input(inputs), approximate_)};
}

// ---- containers ----

Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) {
  for (auto& m : modules) push_back(std::move(m));
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

std::vector<Tensor> Sequential::forward(const ModuleInputs& inputs) {
  if (modules_.empty()) return inputs.args;
  std::vector<Tensor> out = (*modules_.front())(inputs);
  for (std::size_t i = 1; i < modules_.size(); ++i) {
    out = (*modules_[i])(ModuleInputs{std::move(out), {}});
  }
  return out;
}

ModuleList::ModuleList(std::vector<std::shared_ptr<Module>> modules) {
  for (auto& m : modules) push_back(std::move(m));
}

void ModuleList::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

std::vector<Tensor> ModuleList::forward(const ModuleInputs&) {
  throw std::logic_error("ModuleList is not callable: call its items");
}

void ModuleList::throw_wrong_type(std::size_t i) const {
  throw std::invalid_argument(cat("ModuleList: item ", i, " is a ", modules_.at(i)->type_name(),
                                  ", not the requested type"));
}

// ---- MLP ----

MLP::MLP(std::int64_t dim_in, std::int64_t hidden, std::int64_t dim_out, bool bias, Generator& gen,
         DType dtype) {
  net1 = register_module("net1", std::make_shared<Linear>(dim_in, hidden, bias, gen, dtype));
  relu = register_module("relu", std::make_shared<ReLU>());
  net2 = register_module("net2", std::make_shared<Linear>(hidden, dim_out, bias, gen, dtype));
}

std::vector<Tensor> MLP::forward(const ModuleInputs& inputs) {
  return {(*net2)((*relu)((*net1)(single_input(inputs))))};
}

}  // namespace tensorpar::nn
