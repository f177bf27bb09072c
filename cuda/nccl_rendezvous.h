#pragma once
// How the ranks of an NCCL communicator meet through the job's Store, before and beside NCCL:
// the world's unique id, and who belongs to which group of a split. Host-only (no CUDA, no
// NCCL), so it is tested with a HashStore and rank threads.
//
// Unique id: rank 0 of the group makes NCCL's 128-byte id and sets it under `key`; every other
// rank waits for the key and reads it:
//   rank 0:  set("nccl/unique_id", <128 bytes>)
//   rank 1:  wait({"nccl/unique_id"}) -> get -> the same 128 bytes
//
// Split: each rank publishes "<color> <key>" under "<prefix>rank<r>"; every rank reads all of
// them and orders its group by (key, parent rank), as ncclCommSplit orders the new communicator:
//   colors/keys of ranks 0..3: (0, 5) (1, 0) (0, 1) (1, 0) -> color 0: [2, 0], color 1: [1, 3]
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/comm/store.h"
#include "core/comm/timeout.h"

namespace tensorpar::cuda {

// The unique id on every rank. `make_id` runs on rank 0 only. Throws CommTimeoutError when the
// id does not appear within `timeout` (rank 0 never got there), CommError when the stored value
// does not have `id_bytes` bytes; `where` (" on rank 2 of group [0, 1, 2]") ends the location.
StoreBytes exchange_unique_id(Store& store, const std::string& key, int rank, std::size_t id_bytes,
                              Milliseconds timeout, const std::function<StoreBytes()>& make_id,
                              const std::string& where);

// The parent ranks of `color`'s group, ordered by (key, parent rank); empty for a negative color.
std::vector<int> split_members(const std::vector<std::pair<int, int>>& color_key_by_rank,
                               int color);

// Every rank's (color, key) of one split, exchanged under `prefix`, then split_members for this
// rank's color. Collective over the parent's `size` ranks; CommTimeoutError when some rank does
// not publish within `timeout`, naming the ranks still missing.
std::vector<int> exchange_split(Store& store, const std::string& prefix, int rank, int size,
                                int color, int key, Milliseconds timeout, const std::string& where);

}  // namespace tensorpar::cuda
