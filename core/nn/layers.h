#pragma once
// The standard layers, with PyTorch's parameter names, shapes and default initialisation.
//
//   Generator gen(5);
//   Linear fc(10, 16, /*bias=*/true, gen);     // weight [16, 10], bias [16], U(-1/√10, 1/√10)
//   Tensor y = fc(x);                           // x @ weightᵀ + bias, x (..., 10)
//
// Random initialisation draws from the Generator passed in (default: this thread's
// default_generator()), so the same seed builds the same model on every rank. Every forward reads
// its parameters from their slots, so a parallel style can swap them for DTensors.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/nn/module.h"
#include "core/ops/ops.h"
#include "core/tensor/philox.h"

namespace tensorpar::nn {

// y = x Wᵀ + b. weight [out, in], bias [out]; both U(-1/√in, 1/√in) (what PyTorch's
// kaiming_uniform_(a=√5) and its bias init amount to).
class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true,
         Generator& gen = default_generator(), DType dtype = DType::Float32);
  std::string type_name() const override { return "Linear"; }
  std::vector<Tensor> forward(const ModuleInputs& inputs) override;
  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }

 private:
  std::int64_t in_features_;
  std::int64_t out_features_;
};

// Rows of weight [num_embeddings, embedding_dim] (N(0, 1)) picked by Int64 indices.
class Embedding : public Module {
 public:
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim,
            Generator& gen = default_generator(), DType dtype = DType::Float32);
  std::string type_name() const override { return "Embedding"; }
  std::vector<Tensor> forward(const ModuleInputs& inputs) override;
  std::int64_t num_embeddings() const { return num_embeddings_; }
  std::int64_t embedding_dim() const { return embedding_dim_; }

 private:
  std::int64_t num_embeddings_;
  std::int64_t embedding_dim_;
};

// Normalisation over the last dim; weight ones and bias zeros when elementwise_affine.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(std::int64_t dim, double eps = 1e-5, bool elementwise_affine = true,
                     DType dtype = DType::Float32);
  std::string type_name() const override { return "LayerNorm"; }
  std::vector<Tensor> forward(const ModuleInputs& inputs) override;
  double eps() const { return eps_; }

 private:
  double eps_;
};

// x · rsqrt(mean(x², -1) + eps) · weight; weight ones.
class RMSNorm : public Module {
 public:
  explicit RMSNorm(std::int64_t dim, double eps = 1e-6, DType dtype = DType::Float32);
  std::string type_name() const override { return "RMSNorm"; }
  std::vector<Tensor> forward(const ModuleInputs& inputs) override;
  double eps() const { return eps_; }

 private:
  double eps_;
};

// Zeroes elements with probability p while training (scaling the rest by 1/(1-p)); identity in
// eval mode. Draws from `gen` (default: the thread's default_generator() at call time).
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  std::string type_name() const override { return "Dropout"; }
  std::vector<Tensor> forward(const ModuleInputs& inputs) override;
  double p() const { return p_; }

 private:
  double p_;
  Generator* gen_;
};

class ReLU : public Module {
 public:
  std::string type_name() const override { return "ReLU"; }
  std::vector<Tensor> forward(const ModuleInputs& inputs) override;
};

// approximate: "none" (erf) or "tanh".
class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none");
  std::string type_name() const override { return "GELU"; }
  std::vector<Tensor> forward(const ModuleInputs& inputs) override;

 private:
  std::string approximate_;
};

// Children "0", "1", ...; forward feeds each module's outputs to the next as positional inputs
// (keyword inputs go to the first module only).
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  std::string type_name() const override { return "Sequential"; }
  std::vector<Tensor> forward(const ModuleInputs& inputs) override;
  void push_back(std::shared_ptr<Module> module);
  std::size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](std::size_t i) const { return modules_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

// A list of children named "0", "1", ...; not callable (iterate and call the items).
class ModuleList : public Module {
 public:
  ModuleList() = default;
  explicit ModuleList(std::vector<std::shared_ptr<Module>> modules);
  std::string type_name() const override { return "ModuleList"; }
  std::vector<Tensor> forward(const ModuleInputs& inputs) override;
  void push_back(std::shared_ptr<Module> module);
  std::size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](std::size_t i) const { return modules_.at(i); }
  // The item as a T: "ModuleList: item 1 is a Linear, not the requested type" otherwise.
  template <class T>
  std::shared_ptr<T> at(std::size_t i) const {
    auto typed = std::dynamic_pointer_cast<T>(modules_.at(i));
    if (!typed) throw_wrong_type(i);
    return typed;
  }
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

 private:
  [[noreturn]] void throw_wrong_type(std::size_t i) const;
  std::vector<std::shared_ptr<Module>> modules_;
};

// PyTorch's test MLPModule: net1 = Linear(dim_in, hidden), relu, net2 = Linear(hidden, dim_out).
class MLP : public Module {
 public:
  explicit MLP(std::int64_t dim_in = 10, std::int64_t hidden = 16, std::int64_t dim_out = 10,
               bool bias = true, Generator& gen = default_generator(),
               DType dtype = DType::Float32);
  std::string type_name() const override { return "MLP"; }
  std::vector<Tensor> forward(const ModuleInputs& inputs) override;

  std::shared_ptr<Linear> net1;
  std::shared_ptr<ReLU> relu;
  std::shared_ptr<Linear> net2;
};

}  // namespace tensorpar::nn
