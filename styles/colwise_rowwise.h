#pragma once
// ColwiseParallel and RowwiseParallel: the two Megatron-style shardings of nn::Linear and
// nn::Embedding (PyTorch's style.py). Constructor arguments and defaults are PyTorch's, as
// designated initialisers:
//
//   ColwiseParallel()                                     // input R, output S(-1), local output
//   ColwiseParallel({.input_layouts = Shard(1), .output_layouts = Replicate()})
//   RowwiseParallel({.output_layouts = Shard(1)})         // input S(-1), reduce_scatter output
//
// | style    | module    | parameters                         | desired input | compute output |
// |----------|-----------|------------------------------------|---------------|----------------|
// | Colwise  | Linear    | weight S(0), bias S(0)             | R             | S(-1)          |
// | Colwise  | Embedding | weight S(1)                        | R             | S(-1)          |
// | Rowwise  | Linear    | weight S(1), bias R                | S(-1)         | Partial        |
// | Rowwise  | Embedding | weight S(0) (masked lookup)        | R             | Partial        |
//
// At run time (forward hooks): a plain input is wrapped with DTensor::from_local(x, mesh,
// {input_layouts}); when input_layouts differs from the desired layout it is redistributed.
// The output is redistributed to output_layouts when its placement differs (Partial -> R is an
// all_reduce, Partial -> S a reduce_scatter, S(-1) -> R an all_gather) and returned as its local
// tensor when use_local_output. Worked counts on Linear(16, 16), W = 4:
//   Colwise():                               forward 0, backward 1 all_reduce (from_local's P->R)
//   Colwise({.input_layouts = Shard(0)}):    forward 1 all_gather, backward 1 reduce_scatter
//   Rowwise():                               forward 1 all_reduce, backward 0
//   Rowwise({.output_layouts = Shard(0)}):   forward 1 reduce_scatter, backward 1 all_gather
//
// Other module types: std::invalid_argument "ColwiseParallel currently only support nn.Linear and
// nn.Embedding! got <type> ...". Parameters keep their requires_grad (PyTorch #171709).
#include <optional>
#include <string>

#include "styles/parallel_style.h"

namespace tensorpar {

struct ColwiseParallelOptions {
  std::optional<Placement> input_layouts;   // default Replicate()
  std::optional<Placement> output_layouts;  // default Shard(-1)
  bool use_local_output = true;
};

class ColwiseParallel : public ParallelStyle {
 public:
  explicit ColwiseParallel(const ColwiseParallelOptions& options = {});
  void apply(nn::Module& module, const DeviceMesh& mesh) override;
  std::string repr() const override;

  Placement input_layouts;
  Placement output_layouts;
  Placement desired_input_layouts;  // Replicate()
  bool use_local_output;
};

struct RowwiseParallelOptions {
  std::optional<Placement> input_layouts;   // default Shard(-1)
  std::optional<Placement> output_layouts;  // default Replicate()
  bool use_local_output = true;
};

class RowwiseParallel : public ParallelStyle {
 public:
  explicit RowwiseParallel(const RowwiseParallelOptions& options = {});
  // On an Embedding this sets desired_input_layouts to Replicate() (the style object is mutated,
  // as in PyTorch).
  void apply(nn::Module& module, const DeviceMesh& mesh) override;
  std::string repr() const override;

  Placement input_layouts;
  Placement output_layouts;
  Placement desired_input_layouts;  // Shard(-1); Replicate() once applied to an Embedding
  bool use_local_output;
};

}  // namespace tensorpar
