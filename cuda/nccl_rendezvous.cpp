#include "cuda/nccl_rendezvous.h"

#include <algorithm>
#include <sstream>

#include "core/base/error.h"
#include "core/comm/communicator.h"

namespace tensorpar::cuda {

StoreBytes exchange_unique_id(Store& store, const std::string& key, int rank, std::size_t id_bytes,
                              Milliseconds timeout, const std::function<StoreBytes()>& make_id,
                              const std::string& where) {
  if (rank == 0) {
    StoreBytes id = make_id();
    check_state(id.size() == id_bytes, "exchange_unique_id: the new id has ", id.size(),
                " bytes, expected ", id_bytes);
    store.set(key, id);
    return id;
  }
  try {
    store.wait({key}, timeout);
  } catch (const StoreTimeoutError& e) {
    throw CommTimeoutError(cat("NCCL initialisation timed out after ", timeout.count(), " ms",
                               where, "rank 0 never published the unique id under \"", key, "\" (",
                               e.what(), ")"));
  }
  StoreBytes id = store.get(key);
  if (id.size() != id_bytes) {
    throw CommError(cat("NCCL initialisation failed", where, "the unique id under \"", key,
                        "\" has ", id.size(), " bytes, expected ", id_bytes));
  }
  return id;
}

std::vector<int> split_members(const std::vector<std::pair<int, int>>& color_key_by_rank,
                               int color) {
  if (color < 0) return {};
  std::vector<std::pair<int, int>> members;  // (key, parent rank)
  for (std::size_t r = 0; r < color_key_by_rank.size(); ++r) {
    if (color_key_by_rank[r].first == color) {
      members.emplace_back(color_key_by_rank[r].second, static_cast<int>(r));
    }
  }
  std::sort(members.begin(), members.end());
  std::vector<int> ranks;
  for (const auto& m : members) ranks.push_back(m.second);
  return ranks;
}

std::vector<int> exchange_split(Store& store, const std::string& prefix, int rank, int size,
                                int color, int key, Milliseconds timeout,
                                const std::string& where) {
  store.set(cat(prefix, "rank", rank), cat(color, " ", key));
  std::vector<std::string> keys;
  for (int r = 0; r < size; ++r) keys.push_back(cat(prefix, "rank", r));
  try {
    store.wait(keys, timeout);
  } catch (const StoreTimeoutError&) {
    std::string missing;
    for (int r = 0; r < size; ++r) {
      if (!store.check({keys[r]})) missing += cat(missing.empty() ? "" : ", ", r);
    }
    throw CommTimeoutError(cat("split timed out after ", timeout.count(), " ms", where, "ranks [",
                               missing, "] never called split"));
  }
  std::vector<std::pair<int, int>> all(static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r) {
    std::istringstream in(store.get_string(keys[r]));
    auto& [c, k] = all[static_cast<std::size_t>(r)];
    if (!(in >> c >> k)) {
      throw CommError(cat("split failed", where, "rank ", r, "'s entry under \"", keys[r],
                          "\" is not '<color> <key>'"));
    }
  }
  return split_members(all, color);
}

}  // namespace tensorpar::cuda
