#include "core/checkpoint/local_part.h"

#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "core/dtensor/dtensor.h"

namespace tensorpar::checkpoint {

LocalPart local_part(const Item& item, const char* who) {
  NoGradGuard no_grad;
  const Tensor& v = item.value;
  if (!v.is_distributed()) return {true, v, Shape(v.shape().size(), 0), v.shape()};
  const DTensor d(v);
  for (const Placement& p : d.placements()) {
    check_arg(!p.is_partial(), who, ": '", item.name, "' has placements ",
              placements_str(d.placements()),
              "; a Partial value must be reduced (redistributed to Replicate or Shard) first");
  }
  const auto& coordinate = d.device_mesh().get_coordinate();
  if (!coordinate) return {};
  const LocalShard s =
      local_shard_of(d.shape(), d.device_mesh().shape(), d.placements(), *coordinate);
  return {true, d.to_local(), s.offset, s.shape};
}

}  // namespace tensorpar::checkpoint
