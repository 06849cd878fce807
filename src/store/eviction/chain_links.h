// ChainLinks: the parent/child links between resident blocks that the chain-aware policies
// (prefix_aware.cc, chain_hit_density.cc) keep, so each can rank a block by where it sits in its
// chain (an orphan, a leaf, a block with resident children).
//
// A node type provides `parent`, `first_child`, `prev_sibling`, `next_sibling` (EntryId) and
// `orphan` (bool). Every change to a node that its policy orders by goes through `reorder(id, edit)`:
// the policy takes the node out of its ordered set, runs `edit`, and puts it back, so the set's
// keys never go stale. Children form a doubly linked list from the parent's first_child.
#pragma once

#include <vector>

#include "store/eviction/policy.h"

namespace tw::chain_links {

// Links `id` (already reset) as `parent`'s first child; the parent's edit (it now has a child)
// runs under reorder, and `on_parent` may change more of the parent at the same time.
template <typename Node, typename Reorder, typename OnParent>
void Link(std::vector<Node>& nodes, EntryId id, EntryId parent, Reorder&& reorder, OnParent&& on_parent) {
  Node& n = nodes[id];
  Node& p = nodes[parent];
  n.parent = parent;
  n.next_sibling = p.first_child;
  if (p.first_child != kNoEntry) nodes[p.first_child].prev_sibling = id;
  reorder(parent, [&] {
    p.first_child = id;
    on_parent(p);
  });
}

// Unlinks `id`, which is leaving: its children become orphans (unreachable by a lookup, so first in
// line for eviction) and it leaves its parent's child list.
template <typename Node, typename Reorder>
void Unlink(std::vector<Node>& nodes, EntryId id, Reorder&& reorder) {
  Node& n = nodes[id];
  for (EntryId c = n.first_child; c != kNoEntry;) {
    const EntryId next = nodes[c].next_sibling;
    reorder(c, [&] {
      nodes[c].parent = kNoEntry;
      nodes[c].orphan = true;
      nodes[c].prev_sibling = nodes[c].next_sibling = kNoEntry;
    });
    c = next;
  }
  if (n.parent != kNoEntry) {
    Node& p = nodes[n.parent];
    reorder(n.parent, [&] {
      if (n.prev_sibling != kNoEntry) nodes[n.prev_sibling].next_sibling = n.next_sibling;
      else p.first_child = n.next_sibling;
      if (n.next_sibling != kNoEntry) nodes[n.next_sibling].prev_sibling = n.prev_sibling;
    });
  }
}

}  // namespace tw::chain_links
