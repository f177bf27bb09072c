#pragma once
// A map of at most `capacity` entries that drops the least recently used entry to make room.
// For the per-thread plan caches, whose keys include shapes that may vary without bound.
#include <cstddef>
#include <functional>
#include <list>
#include <unordered_map>
#include <utility>

namespace tensorpar {

template <class Key, class Value, class Hash = std::hash<Key>>
class LruCache {
 public:
  explicit LruCache(std::size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

  // The cached value, now the most recently used, or nullptr.
  Value* find(const Key& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    entries_.splice(entries_.begin(), entries_, it->second);
    return &it->second->second;
  }

  // Adds an entry for a key that find() did not return, dropping the least recently used entry
  // when full. The reference stays valid until capacity() other keys have been inserted
  // without this one being found again, or until clear().
  Value& insert(Key key, Value value) {
    if (entries_.size() >= capacity_) {
      index_.erase(entries_.back().first);
      entries_.pop_back();
    }
    entries_.emplace_front(key, std::move(value));
    index_.emplace(std::move(key), entries_.begin());
    return entries_.front().second;
  }

  std::size_t size() const { return entries_.size(); }
  std::size_t capacity() const { return capacity_; }
  void clear() {
    index_.clear();
    entries_.clear();
  }

 private:
  using Entries = std::list<std::pair<Key, Value>>;  // most recently used first
  std::size_t capacity_;
  Entries entries_;
  std::unordered_map<Key, typename Entries::iterator, Hash> index_;
};

}  // namespace tensorpar
