// scaling/cdn/detail/purge_index.hpp: the indexes behind purge by prefix and by tag, and the
// log that lets a purge win over a fetch that was in the air when it ran.
//
// What it is: `purge_index` keeps storage keys in an ordered map (prefix purge is a range
// scan) and maps tags to the set of storage keys carrying them (tag purge costs the number of
// tagged entries). Each entry carries a generation so that a late removal notice for a
// replaced entry cannot remove its successor from the index. `purge_log` records the purges
// made while origin fetches are in flight, by URL, tag, prefix or everything, each with a
// purge epoch; a fetch notes the epoch when it starts, and its response is not stored when a
// purge matching it has a later epoch (its content predates the purge).
//
// When to pick it: inside edge_cache. The owner serialises stores and purges with one lock
// and checks the log under it, so a purge can miss neither an entry being stored at the same
// moment nor a fetch that began before it.
//
//   const auto epoch = log.begin_fetch();   // under the owner's lock
//   ...                                     // the origin answers
//   if (!log.purged_since(epoch, key, tags)) store(...);
//   log.end_fetch(epoch);
//
// Thread safety: purge_index has its own mutex; purge_log has none (the owner's lock guards
// it). Complexity: purged_since is O(tags + prefixes purged during the fetch); the log holds
// only purges newer than the oldest fetch in flight, and nothing when no fetch is.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace scaling::detail {

class purge_index {
 public:
  // Records `key` as holding generation `generation`, tagged with `tags`; replaces whatever
  // the key held before (dropping the old tags).
  void add(const std::string& key, std::uint64_t generation, const std::vector<std::string>& tags) {
    const std::lock_guard lock{mutex_};
    auto [it, inserted] = keys_.try_emplace(key);
    if (!inserted) drop_tags(key, it->second.tags);
    it->second.generation = generation;
    it->second.tags = tags;
    for (const auto& tag : tags)
      tagged_[tag].insert(key);
  }

  // Forgets `key` if it still holds `generation`.
  void remove(const std::string& key, std::uint64_t generation) {
    const std::lock_guard lock{mutex_};
    const auto it = keys_.find(key);
    if (it == keys_.end() || it->second.generation != generation) return;
    drop_tags(key, it->second.tags);
    keys_.erase(it);
  }

  [[nodiscard]] std::vector<std::string> keys_with_prefix(std::string_view prefix) const {
    const std::lock_guard lock{mutex_};
    std::vector<std::string> out;
    for (auto it = keys_.lower_bound(prefix); it != keys_.end(); ++it) {
      if (std::string_view{it->first}.substr(0, prefix.size()) != prefix) break;
      out.push_back(it->first);
    }
    return out;
  }

  [[nodiscard]] std::vector<std::string> keys_with_tag(std::string_view tag) const {
    const std::lock_guard lock{mutex_};
    const auto it = tagged_.find(std::string{tag});
    if (it == tagged_.end()) return {};
    return {it->second.begin(), it->second.end()};
  }

  [[nodiscard]] std::vector<std::string> all_keys() const { return keys_with_prefix({}); }

  [[nodiscard]] std::size_t size() const {
    const std::lock_guard lock{mutex_};
    return keys_.size();
  }

  [[nodiscard]] std::size_t tag_count() const {
    const std::lock_guard lock{mutex_};
    return tagged_.size();
  }

 private:
  struct record {
    std::uint64_t generation = 0;
    std::vector<std::string> tags;
  };

  void drop_tags(const std::string& key, const std::vector<std::string>& tags) {
    for (const auto& tag : tags) {
      const auto it = tagged_.find(tag);
      if (it == tagged_.end()) continue;
      it->second.erase(key);
      if (it->second.empty()) tagged_.erase(it);
    }
  }

  mutable std::mutex mutex_;
  std::map<std::string, record, std::less<>> keys_;
  std::unordered_map<std::string, std::set<std::string>> tagged_;
};

class purge_log {
 public:
  // A fetch starts: returns its epoch (purges recorded from now on are newer).
  [[nodiscard]] std::uint64_t begin_fetch() {
    in_flight_.insert(epoch_);
    return epoch_;
  }
  // A fetch that began at `epoch` is done (stored or not): forgets what no fetch still needs.
  void end_fetch(std::uint64_t epoch) {
    const auto it = in_flight_.find(epoch);
    if (it != in_flight_.end()) in_flight_.erase(it);
    if (in_flight_.empty()) {
      keys_.clear();
      tags_.clear();
      prefixes_.clear();
      return;
    }
    const std::uint64_t oldest = *in_flight_.begin();
    std::erase_if(keys_, [oldest](const auto& e) { return e.second <= oldest; });
    std::erase_if(tags_, [oldest](const auto& e) { return e.second <= oldest; });
    std::erase_if(prefixes_, [oldest](const auto& e) { return e.second <= oldest; });
  }

  void record_key(std::string_view url) {
    if (!in_flight_.empty()) keys_[std::string{url}] = ++epoch_;
  }
  void record_tag(std::string_view tag) {
    if (!in_flight_.empty()) tags_[std::string{tag}] = ++epoch_;
  }
  void record_prefix(std::string_view prefix) {
    if (in_flight_.empty()) return;
    prefixes_.emplace_back(std::string{prefix}, ++epoch_);
  }
  void record_all() {
    if (!in_flight_.empty()) all_ = ++epoch_;
  }

  // True when a purge recorded after `epoch` covers the URL `url` (any of its variants) or
  // one of `tags`.
  [[nodiscard]] bool purged_since(std::uint64_t epoch, std::string_view url,
                                  const std::vector<std::string>& tags) const {
    if (all_ > epoch) return true;
    const auto key = keys_.find(std::string{url});
    if (key != keys_.end() && key->second > epoch) return true;
    for (const auto& tag : tags) {
      const auto it = tags_.find(tag);
      if (it != tags_.end() && it->second > epoch) return true;
    }
    return std::any_of(prefixes_.begin(), prefixes_.end(), [&](const auto& p) {
      return p.second > epoch && url.substr(0, p.first.size()) == p.first;
    });
  }

  // Purge records held (for tests of the pruning).
  [[nodiscard]] std::size_t size() const noexcept {
    return keys_.size() + tags_.size() + prefixes_.size();
  }

 private:
  // Nothing is recorded while no fetch is in flight: no response can predate the purge.
  std::uint64_t epoch_ = 0;
  std::uint64_t all_ = 0;
  std::multiset<std::uint64_t> in_flight_;
  std::unordered_map<std::string, std::uint64_t> keys_;
  std::unordered_map<std::string, std::uint64_t> tags_;
  std::vector<std::pair<std::string, std::uint64_t>> prefixes_;
};

}  // namespace scaling::detail
