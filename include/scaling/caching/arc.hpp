// scaling/caching/arc.hpp: the Adaptive Replacement Cache policy (`scaling::arc`).
//
// What it is: two LRU lists of resident entries, T1 (seen once recently) and T2 (seen at least
// twice), and two ghost lists of the keys they evicted last, B1 and B2 (key hashes only, up to
// the capacity in all). A miss on a B1 ghost means T1 was too small: the target size p of T1
// grows; a miss on a B2 ghost shrinks it. Eviction takes T1's oldest entry while T1 is larger
// than p, T2's oldest otherwise, so the split between recency and frequency follows the
// workload with no parameter to tune.
// When to pick it: workloads that mix recency and frequency and shift between them (databases,
// file and block caches), where LRU is too scan-sensitive and LFU too slow to forget. Like LRU
// it keeps nothing of a loop larger than the cache (use `lirs` or `w_tinylfu`).
// Reference: N. Megiddo, D. S. Modha, "ARC: A Self-Tuning, Low Overhead Replacement Cache",
// FAST 2003 (Figure 4; the OLTP column of Table IV reproduces exactly, see
// benchmarks/caching/README.md).
//
//   scaling::cache<std::uint64_t, page, scaling::arc> pages{100'000};
//
// Thread safety: as the cache that holds it. Complexity: O(1) per call (a hit moves one entry
// to T2's head; a miss looks its hash up in one table of ghosts). Memory: per slot 24 bytes,
// and per ghost about 40 (hash, links and its table entry), at most one ghost per entry.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include <scaling/caching/detail/index_list.hpp>

namespace scaling {

struct arc {
  class state {
   public:
    explicit state(std::size_t capacity) : capacity_(std::max<std::size_t>(1, capacity)) {}

    void reserve(std::size_t slots) {
      links_.resize(slots);
      meta_.resize(slots);
    }

    void on_insert(detail::slot_index s, std::uint64_t hash, std::uint32_t w) {
      meta_[s] = {hash, w, list_id::t1};
      const ghost_find found = find_ghost(hash);
      if (found.list != list_id::none) {
        // A ghost hit: adapt p (unless evict() did, for this very request), then the key
        // enters T2 as a page seen twice.
        if (!(adapted_ && hash == pending_hash_)) adapt(found.list);
        drop_ghost(found.index);
        meta_[s].where = list_id::t2;
        t2_.push_front(links_, s, w);
      } else {
        t1_.push_front(links_, s, w);
      }
      pending_valid_ = false;
      adapted_ = false;
      trim_ghosts();
    }

    void on_hit(detail::slot_index s, std::uint64_t /*hash*/) noexcept {
      if (meta_[s].where == list_id::t1) {
        t1_.remove(links_, s, meta_[s].weight);
        t2_.push_front(links_, s, meta_[s].weight);
        meta_[s].where = list_id::t2;
      } else {
        t2_.move_to_front(links_, s);
      }
    }

    void on_miss(std::uint64_t hash) noexcept {
      pending_hash_ = hash;
      pending_valid_ = true;
      adapted_ = false;
    }

    void on_update(detail::slot_index s, std::uint64_t hash, std::uint32_t old_w,
                   std::uint32_t new_w) noexcept {
      list_of(meta_[s].where).weight += static_cast<std::uint64_t>(new_w) - old_w;
      meta_[s].weight = new_w;
      on_hit(s, hash);
    }

    void on_remove(detail::slot_index s) noexcept {
      list_of(meta_[s].where).remove(links_, s, meta_[s].weight);
      meta_[s].where = list_id::none;
    }

    // ARC's REPLACE for the request that missed last (on_miss): cases II-IV of Figure 4.
    [[nodiscard]] detail::slot_index evict(std::uint32_t /*incoming*/) {
      const ghost_find found = pending_valid_ ? find_ghost(pending_hash_) : ghost_find{};
      if (found.list != list_id::none) {
        if (!adapted_) adapt(found.list);
        adapted_ = true;
        return replace(found.list == list_id::b2);
      }
      if (t1_.weight + b1_.weight >= capacity_) {  // case IV.A: L1 holds c pages
        if (t1_.weight < capacity_ && !b1_.empty()) {
          drop_ghost(b1_.tail);
          return replace(false);
        }
        return take(t1_.empty() ? t2_ : t1_, false);  // T1 is the whole cache: no ghost
      }
      if (t1_.weight + t2_.weight + b1_.weight + b2_.weight >= 2 * capacity_ && !b2_.empty()) {
        drop_ghost(b2_.tail);  // case IV.B: the directory is full
      }
      return replace(false);
    }

    void clear() noexcept {
      t1_.reset();
      t2_.reset();
      b1_.reset();
      b2_.reset();
      ghost_index_.clear();
      ghosts_.clear();
      ghost_links_ = {};
      free_ghosts_.clear();
      p_ = 0;
      pending_valid_ = false;
      adapted_ = false;
    }

    // Diagnostics for tests: the target size of T1, and the sizes of the four lists.
    [[nodiscard]] double target_t1() const noexcept { return p_; }
    [[nodiscard]] std::size_t t1_size() const noexcept { return t1_.count; }
    [[nodiscard]] std::size_t t2_size() const noexcept { return t2_.count; }
    [[nodiscard]] std::size_t b1_size() const noexcept { return b1_.count; }
    [[nodiscard]] std::size_t b2_size() const noexcept { return b2_.count; }

   private:
    enum class list_id : std::uint8_t { none, t1, t2, b1, b2 };
    struct meta {
      std::uint64_t hash = 0;
      std::uint32_t weight = 0;
      list_id where = list_id::none;
    };
    struct ghost {
      std::uint64_t hash = 0;
      std::uint32_t weight = 0;
      list_id list = list_id::none;
    };
    struct ghost_find {
      list_id list = list_id::none;
      detail::slot_index index = detail::no_slot;
    };

    detail::index_list& list_of(list_id w) noexcept { return w == list_id::t1 ? t1_ : t2_; }
    detail::index_list& ghost_list(list_id w) noexcept { return w == list_id::b1 ? b1_ : b2_; }

    // The adaptation of cases II and III: a B1 ghost hit grows T1's target by
    // max(1, |B2| / |B1|), a B2 ghost hit shrinks it by max(1, |B1| / |B2|).
    void adapt(list_id ghost_list_hit) noexcept {
      const auto b1 = static_cast<double>(b1_.weight);
      const auto b2 = static_cast<double>(b2_.weight);
      const auto c = static_cast<double>(capacity_);
      if (ghost_list_hit == list_id::b1) {
        p_ = std::min(c, p_ + (b1 >= b2 ? 1.0 : b2 / b1));
      } else {
        p_ = std::max(0.0, p_ - (b2 >= b1 ? 1.0 : b1 / b2));
      }
    }

    // REPLACE(x, p): T1's oldest to B1 when T1 exceeds its target (or meets it and x is a B2
    // ghost), else T2's oldest to B2.
    detail::slot_index replace(bool in_b2) {
      const auto t1 = static_cast<double>(t1_.weight);
      const bool from_t1 = !t1_.empty() && ((in_b2 && t1 == p_) || t1 > p_ || t2_.empty());
      return take(from_t1 ? t1_ : t2_, true);
    }

    detail::slot_index take(detail::index_list& from, bool keep_ghost) {
      const detail::slot_index s = from.tail;
      const bool t1 = &from == &t1_;
      from.remove(links_, s, meta_[s].weight);
      meta_[s].where = list_id::none;
      if (keep_ghost) add_ghost(meta_[s].hash, meta_[s].weight, t1 ? list_id::b1 : list_id::b2);
      return s;
    }

    ghost_find find_ghost(std::uint64_t hash) const noexcept {
      const auto it = ghost_index_.find(hash);
      if (it == ghost_index_.end()) return {};
      return {ghosts_[it->second].list, it->second};
    }

    void add_ghost(std::uint64_t hash, std::uint32_t w, list_id list) {
      if (const auto it = ghost_index_.find(hash); it != ghost_index_.end()) {
        drop_ghost(it->second);  // the key's older ghost (a hash collision, or an erase)
      }
      detail::slot_index g = 0;
      if (!free_ghosts_.empty()) {
        g = free_ghosts_.back();
        free_ghosts_.pop_back();
      } else {
        g = static_cast<detail::slot_index>(ghosts_.size());
        ghosts_.emplace_back();
        ghost_links_.resize(ghosts_.size());
      }
      ghosts_[g] = {hash, w, list};
      ghost_list(list).push_front(ghost_links_, g, w);
      ghost_index_.emplace(hash, g);
    }

    void drop_ghost(detail::slot_index g) {
      ghost_list(ghosts_[g].list).remove(ghost_links_, g, ghosts_[g].weight);
      ghost_index_.erase(ghosts_[g].hash);
      ghosts_[g].list = list_id::none;
      free_ghosts_.push_back(g);
    }

    // Keeps |T1| + |B1| <= c and the whole directory <= 2c (the invariants of Figure 4), also
    // when an insertion needed no eviction (the cache was not full).
    void trim_ghosts() {
      while (t1_.weight + b1_.weight > capacity_ && !b1_.empty())
        drop_ghost(b1_.tail);
      while (t1_.weight + t2_.weight + b1_.weight + b2_.weight > 2 * capacity_ && !b2_.empty())
        drop_ghost(b2_.tail);
    }

    std::uint64_t capacity_;
    double p_ = 0;  // the target weight of T1
    std::uint64_t pending_hash_ = 0;
    bool pending_valid_ = false;
    bool adapted_ = false;  // evict() already adapted p for the pending request
    detail::link_table links_;
    std::vector<meta> meta_;
    detail::index_list t1_;
    detail::index_list t2_;
    detail::index_list b1_;
    detail::index_list b2_;
    std::vector<ghost> ghosts_;
    detail::link_table ghost_links_;
    std::vector<detail::slot_index> free_ghosts_;
    boost::unordered_flat_map<std::uint64_t, detail::slot_index> ghost_index_;
  };
};

}  // namespace scaling
