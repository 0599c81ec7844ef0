// scaling/cdn/detail/purge_index.hpp: the indexes behind purge by prefix and by tag.
//
// Storage keys are kept in an ordered map (prefix purge is a range scan) and tags map to the
// set of storage keys carrying them (tag purge costs the number of tagged entries). Each
// entry carries a generation so that a late removal notice for a replaced entry cannot
// remove its successor from the index.
#pragma once

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

}  // namespace scaling::detail
