//! [`MerkleTrie`]: an in-memory Merkle-Patricia trie over 32-byte keys with cached node hashes.

use super::TrieError;
use alloy_primitives::{B256, Bytes, keccak256};
use alloy_rlp::{EMPTY_STRING_CODE, Encodable};
use alloy_trie::{
    EMPTY_ROOT_HASH, Nibbles, TrieMask,
    nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode},
};
use core::{
    mem,
    ops::{Index, IndexMut},
};
use rayon::prelude::*;

/// Number of nibbles in a key (32 bytes).
const KEY_NIBBLES: usize = 64;

/// Bits of a [`Ptr`] used for the arena index; the top two bits hold the node kind.
const INDEX_BITS: u32 = 30;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
const TAG_LEAF: u32 = 1;
const TAG_EXT: u32 = 2;
const TAG_BRANCH: u32 = 3;

/// Below this many modifications since the last commit, hashing runs on the calling thread.
const PARALLEL_HASH_THRESHOLD: usize = 512;
/// Branch levels (from the root) whose children are hashed as separate rayon tasks: up to
/// 16^2 = 256 tasks, enough to balance any realistic core count.
const PARALLEL_HASH_LEVELS: u32 = 2;

/// A reference to a node: a 2-bit kind tag and a 30-bit index into the arena of that kind.
/// `Ptr(0)` is the empty subtree.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
struct Ptr(u32);

/// Decoded form of a [`Ptr`].
enum Kind {
    Empty,
    Leaf(u32),
    Ext(u32),
    Branch(u32),
}

impl Ptr {
    const EMPTY: Self = Self(0);

    #[inline]
    const fn leaf(index: u32) -> Self {
        Self((TAG_LEAF << INDEX_BITS) | index)
    }

    #[inline]
    const fn ext(index: u32) -> Self {
        Self((TAG_EXT << INDEX_BITS) | index)
    }

    #[inline]
    const fn branch(index: u32) -> Self {
        Self((TAG_BRANCH << INDEX_BITS) | index)
    }

    #[inline]
    const fn kind(self) -> Kind {
        let index = self.0 & INDEX_MASK;
        match self.0 >> INDEX_BITS {
            TAG_LEAF => Kind::Leaf(index),
            TAG_EXT => Kind::Ext(index),
            TAG_BRANCH => Kind::Branch(index),
            _ => Kind::Empty,
        }
    }
}

/// A leaf. It stores its *full* key, so its encoded path is `key[depth..]` for whatever depth it
/// currently sits at: moving a leaf up or down (branch split/collapse) only dirties its hash.
#[derive(Clone, Debug)]
struct Leaf {
    key: B256,
    value: Box<[u8]>,
    /// Cached reference as seen from the parent; empty = dirty.
    rlp: RlpNode,
}

/// An extension node; `child` is always a branch.
#[derive(Clone, Debug)]
struct Ext {
    key: Nibbles,
    child: Ptr,
    rlp: RlpNode,
}

/// A branch node (no value slot: all keys have the same length). At least two children.
#[derive(Clone, Debug)]
struct Branch {
    children: [Ptr; 16],
    rlp: RlpNode,
}

/// Slab of nodes of one kind with a free list.
#[derive(Clone, Debug)]
struct Arena<T> {
    items: Vec<T>,
    free: Vec<u32>,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Self { items: Vec::new(), free: Vec::new() }
    }
}

impl<T> Arena<T> {
    /// Stores `node` and returns its index.
    ///
    /// Panics if the arena already holds 2^30 nodes (far beyond any realistic state size).
    #[inline]
    fn alloc(&mut self, node: T) -> u32 {
        if let Some(index) = self.free.pop() {
            self.items[index as usize] = node;
            index
        } else {
            let index = self.items.len();
            assert!(index <= INDEX_MASK as usize, "merkle trie arena is full (2^30 nodes)");
            self.items.push(node);
            index as u32
        }
    }

    #[inline]
    fn release(&mut self, index: u32) {
        self.free.push(index);
    }

    fn live(&self) -> usize {
        self.items.len() - self.free.len()
    }

    fn heap_bytes(&self) -> usize {
        self.items.capacity() * mem::size_of::<T>() + self.free.capacity() * mem::size_of::<u32>()
    }
}

impl<T> Index<u32> for Arena<T> {
    type Output = T;

    #[inline]
    fn index(&self, index: u32) -> &T {
        &self.items[index as usize]
    }
}

impl<T> IndexMut<u32> for Arena<T> {
    #[inline]
    fn index_mut(&mut self, index: u32) -> &mut T {
        &mut self.items[index as usize]
    }
}

/// Nibble `i` (0..64) of a 32-byte key.
#[inline]
fn nibble_at(key: &B256, i: usize) -> u8 {
    let byte = key[i / 2];
    if i.is_multiple_of(2) { byte >> 4 } else { byte & 0x0f }
}

/// Length in nibbles of the common prefix of two keys.
#[inline]
fn common_prefix(a: &B256, b: &B256) -> usize {
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        let diff = x ^ y;
        if diff != 0 {
            return i * 2 + usize::from(diff & 0xf0 == 0);
        }
    }
    KEY_NIBBLES
}

/// Hash committed to by a root node reference: the root is always hashed, even when its encoding
/// is shorter than 32 bytes (in which case the reference *is* the encoding).
#[inline]
fn root_hash_of(rlp: &RlpNode) -> B256 {
    rlp.as_hash().unwrap_or_else(|| keccak256(rlp.as_slice()))
}

/// Pending cache writes produced by a read-only hashing pass.
type Writes = Vec<(Ptr, RlpNode)>;

/// An in-memory Merkle-Patricia trie keyed by 32-byte (already hashed) keys, caching the RLP
/// reference of every node so that [`root`](Self::root) only rehashes the paths modified since
/// the previous call.
///
/// Values are the raw leaf payload (e.g. the RLP of an account or of a storage value); an empty
/// value is never stored (inserting one removes the key, as in geth).
///
/// Nodes live in three arenas (leaves, extensions, branches) addressed by 32-bit handles, so the
/// trie is a handful of flat vectors: about 90 bytes per leaf plus the value, and ~100 bytes per
/// branch, i.e. roughly 200-250 bytes per account-sized leaf in total.
#[derive(Clone, Debug, Default)]
pub struct MerkleTrie {
    root: Ptr,
    leaves: Arena<Leaf>,
    exts: Arena<Ext>,
    branches: Arena<Branch>,
    len: usize,
    /// Modifications since the last commit (a cheap estimate of the dirty set's size).
    pending: usize,
}

impl MerkleTrie {
    /// Creates an empty trie.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys in the trie.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the trie holds no key.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether some node hashes are stale, i.e. [`root`](Self::root) has work to do.
    pub fn is_dirty(&self) -> bool {
        match self.root.kind() {
            Kind::Empty => false,
            Kind::Leaf(i) => self.leaves[i].rlp.is_empty(),
            Kind::Ext(i) => self.exts[i].rlp.is_empty(),
            Kind::Branch(i) => self.branches[i].rlp.is_empty(),
        }
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Approximate heap footprint in bytes (arenas plus leaf values).
    pub fn memory_usage(&self) -> usize {
        let values: usize = self.leaves.items.iter().map(|leaf| leaf.value.len()).sum();
        self.leaves.heap_bytes() + self.exts.heap_bytes() + self.branches.heap_bytes() + values
    }

    /// Builds a trie from leaves in strictly ascending key order, in O(n) node allocations
    /// (no per-key descent). Entries with an empty value are skipped. The hashes are computed by
    /// the first [`root`](Self::root) call (in parallel for large tries).
    ///
    /// Returns [`TrieError::UnsortedKeys`] if the keys are not strictly ascending.
    ///
    /// # Panics
    ///
    /// If more than 2^30 leaves are given.
    pub fn from_sorted<I, V>(leaves: I) -> Result<Self, TrieError>
    where
        I: IntoIterator<Item = (B256, V)>,
        V: Into<Box<[u8]>>,
    {
        let leaves = leaves.into_iter();
        let mut items = Vec::with_capacity(leaves.size_hint().0);
        let mut previous: Option<B256> = None;
        for (key, value) in leaves {
            if let Some(previous) = previous
                && key <= previous
            {
                return Err(TrieError::UnsortedKeys { previous, key });
            }
            previous = Some(key);
            let value = value.into();
            if !value.is_empty() {
                items.push(Leaf { key, value, rlp: RlpNode::default() });
            }
        }
        Ok(Self::from_sorted_leaves(items))
    }

    /// [`from_sorted`](Self::from_sorted) for input already known to be strictly ascending with
    /// non-empty values.
    pub(crate) fn from_sorted_unchecked(leaves: Vec<(B256, Box<[u8]>)>) -> Self {
        debug_assert!(leaves.windows(2).all(|w| w[0].0 < w[1].0), "unsorted leaves");
        let items = leaves
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(key, value)| Leaf { key, value, rlp: RlpNode::default() })
            .collect();
        Self::from_sorted_leaves(items)
    }

    fn from_sorted_leaves(items: Vec<Leaf>) -> Self {
        assert!(items.len() <= INDEX_MASK as usize, "merkle trie arena is full (2^30 nodes)");
        let len = items.len();
        let mut trie = Self { len, pending: len, ..Self::default() };
        trie.leaves.items = items;
        if len > 0 {
            trie.root = trie.build(0, len, 0);
        }
        trie
    }

    /// Builds the subtree over sorted leaves `lo..hi` (which share their first `depth` nibbles).
    fn build(&mut self, lo: usize, hi: usize, depth: usize) -> Ptr {
        if hi - lo == 1 {
            return Ptr::leaf(lo as u32);
        }
        let first = self.leaves.items[lo].key;
        let split = common_prefix(&first, &self.leaves.items[hi - 1].key);
        let branch = self.build_branch(lo, hi, split);
        self.wrap_in_ext(&Nibbles::unpack(first), depth, split, branch)
    }

    /// Builds a branch at `depth` over sorted leaves `lo..hi` that differ at nibble `depth`.
    fn build_branch(&mut self, lo: usize, hi: usize, depth: usize) -> Ptr {
        let mut children = [Ptr::EMPTY; 16];
        let mut start = lo;
        while start < hi {
            let nibble = nibble_at(&self.leaves.items[start].key, depth);
            let end = start
                + self.leaves.items[start..hi]
                    .partition_point(|leaf| nibble_at(&leaf.key, depth) <= nibble);
            children[usize::from(nibble)] = self.build(start, end, depth + 1);
            start = end;
        }
        Ptr::branch(self.branches.alloc(Branch { children, rlp: RlpNode::default() }))
    }

    /// Returns the value stored under `key`.
    pub fn get(&self, key: &B256) -> Option<&[u8]> {
        let path = Nibbles::unpack(key);
        let mut node = self.root;
        let mut depth = 0;
        loop {
            match node.kind() {
                Kind::Empty => return None,
                Kind::Leaf(i) => {
                    let leaf = &self.leaves[i];
                    return (leaf.key == *key).then_some(&*leaf.value);
                }
                Kind::Ext(i) => {
                    let ext = &self.exts[i];
                    let end = depth + ext.key.len();
                    if path.slice(depth..end) != ext.key {
                        return None;
                    }
                    depth = end;
                    node = ext.child;
                }
                Kind::Branch(i) => {
                    node = self.branches[i].children[usize::from(nibble_at(key, depth))];
                    depth += 1;
                }
            }
        }
    }

    /// Inserts or replaces the value under `key`, returning the previous value. Inserting an
    /// empty value removes the key. Setting a key to its current value is a no-op (nothing is
    /// dirtied).
    ///
    /// # Panics
    ///
    /// If an arena would exceed 2^30 nodes.
    pub fn insert(&mut self, key: B256, value: impl Into<Box<[u8]>>) -> Option<Box<[u8]>> {
        let value = value.into();
        if value.is_empty() {
            return self.remove(&key);
        }
        let path = Nibbles::unpack(key);
        let mut previous = None;
        let (root, changed) = self.insert_at(self.root, 0, &key, &path, value, &mut previous);
        if changed {
            self.root = root;
            self.pending += 1;
        }
        previous
    }

    /// Inserts below `node` (at nibble `depth`); returns the new subtree and whether it changed.
    fn insert_at(
        &mut self,
        node: Ptr,
        depth: usize,
        key: &B256,
        path: &Nibbles,
        value: Box<[u8]>,
        previous: &mut Option<Box<[u8]>>,
    ) -> (Ptr, bool) {
        match node.kind() {
            Kind::Empty => (self.new_leaf(*key, value), true),
            Kind::Leaf(i) => {
                let leaf = &mut self.leaves[i];
                if leaf.key == *key {
                    if leaf.value == value {
                        *previous = Some(value);
                        return (node, false);
                    }
                    *previous = Some(mem::replace(&mut leaf.value, value));
                    leaf.rlp = RlpNode::default();
                    return (node, true);
                }
                // Split: the existing leaf moves below a new branch (its path shrinks).
                let other = leaf.key;
                leaf.rlp = RlpNode::default();
                let split = common_prefix(key, &other);
                let new_leaf = self.new_leaf(*key, value);
                let mut children = [Ptr::EMPTY; 16];
                children[usize::from(nibble_at(&other, split))] = node;
                children[usize::from(nibble_at(key, split))] = new_leaf;
                let branch = self.new_branch(children);
                (self.wrap_in_ext(path, depth, split, branch), true)
            }
            Kind::Ext(i) => {
                let Ext { key: ext_key, child, .. } = self.exts[i];
                let n = ext_key.len();
                let common = path.slice(depth..depth + n).common_prefix_length(&ext_key);
                if common == n {
                    let (new_child, changed) =
                        self.insert_at(child, depth + n, key, path, value, previous);
                    if changed {
                        let ext = &mut self.exts[i];
                        ext.child = new_child;
                        ext.rlp = RlpNode::default();
                    }
                    return (node, changed);
                }
                // The key leaves the extension at nibble `split`: insert a branch there.
                let split = depth + common;
                let ext_nibble = usize::from(ext_key.get_unchecked(common));
                let mut children = [Ptr::EMPTY; 16];
                children[usize::from(nibble_at(key, split))] = self.new_leaf(*key, value);
                if common + 1 == n {
                    // Nothing of the extension is left below the new branch.
                    children[ext_nibble] = child;
                    let branch = self.new_branch(children);
                    if common == 0 {
                        self.exts.release(i);
                        return (branch, true);
                    }
                    let ext = &mut self.exts[i];
                    ext.key = ext_key.slice(..common);
                    ext.child = branch;
                    ext.rlp = RlpNode::default();
                    (node, true)
                } else {
                    // The extension keeps its tail below the new branch.
                    let ext = &mut self.exts[i];
                    ext.key = ext_key.slice(common + 1..);
                    ext.rlp = RlpNode::default();
                    children[ext_nibble] = node;
                    let branch = self.new_branch(children);
                    (self.wrap_in_ext(path, depth, split, branch), true)
                }
            }
            Kind::Branch(i) => {
                let nibble = usize::from(nibble_at(key, depth));
                let child = self.branches[i].children[nibble];
                let (new_child, changed) =
                    self.insert_at(child, depth + 1, key, path, value, previous);
                if changed {
                    let branch = &mut self.branches[i];
                    branch.children[nibble] = new_child;
                    branch.rlp = RlpNode::default();
                }
                (node, changed)
            }
        }
    }

    fn new_leaf(&mut self, key: B256, value: Box<[u8]>) -> Ptr {
        self.len += 1;
        Ptr::leaf(self.leaves.alloc(Leaf { key, value, rlp: RlpNode::default() }))
    }

    fn new_branch(&mut self, children: [Ptr; 16]) -> Ptr {
        Ptr::branch(self.branches.alloc(Branch { children, rlp: RlpNode::default() }))
    }

    /// Puts `child` (sitting at nibble `to`) below an extension `path[from..to]`, if non-empty.
    fn wrap_in_ext(&mut self, path: &Nibbles, from: usize, to: usize, child: Ptr) -> Ptr {
        if to == from {
            return child;
        }
        let key = path.slice(from..to);
        Ptr::ext(self.exts.alloc(Ext { key, child, rlp: RlpNode::default() }))
    }

    /// Removes `key`, returning its value if it was present.
    pub fn remove(&mut self, key: &B256) -> Option<Box<[u8]>> {
        let path = Nibbles::unpack(key);
        let mut removed = None;
        if let Some(root) = self.remove_at(self.root, 0, key, &path, &mut removed) {
            self.root = root;
            self.pending += 1;
        }
        removed
    }

    /// Removes below `node`; `None` if the key is absent (nothing changed), else the new subtree.
    fn remove_at(
        &mut self,
        node: Ptr,
        depth: usize,
        key: &B256,
        path: &Nibbles,
        removed: &mut Option<Box<[u8]>>,
    ) -> Option<Ptr> {
        match node.kind() {
            Kind::Empty => None,
            Kind::Leaf(i) => {
                if self.leaves[i].key != *key {
                    return None;
                }
                *removed = Some(mem::take(&mut self.leaves[i].value));
                self.leaves.release(i);
                self.len -= 1;
                Some(Ptr::EMPTY)
            }
            Kind::Ext(i) => {
                let Ext { key: ext_key, child, .. } = self.exts[i];
                let end = depth + ext_key.len();
                if path.slice(depth..end) != ext_key {
                    return None;
                }
                let new_child = self.remove_at(child, end, key, path, removed)?;
                Some(self.reattach_ext(i, new_child))
            }
            Kind::Branch(i) => {
                let nibble = usize::from(nibble_at(key, depth));
                let child = self.branches[i].children[nibble];
                let new_child = self.remove_at(child, depth + 1, key, path, removed)?;
                let branch = &mut self.branches[i];
                branch.children[nibble] = new_child;
                branch.rlp = RlpNode::default();
                if new_child != Ptr::EMPTY {
                    return Some(node);
                }
                let mut count = 0;
                let mut last = 0;
                for (n, c) in branch.children.iter().enumerate() {
                    if *c != Ptr::EMPTY {
                        count += 1;
                        last = n;
                    }
                }
                match count {
                    0 => {
                        self.branches.release(i);
                        Some(Ptr::EMPTY)
                    }
                    1 => {
                        // Collapse: the only remaining child absorbs the branch's nibble.
                        let only = branch.children[last];
                        self.branches.release(i);
                        Some(self.lift(only, last as u8))
                    }
                    _ => Some(node),
                }
            }
        }
    }

    /// Moves `child` up one level in place of its parent branch, prefixing its path with
    /// `nibble`: a leaf just gets a longer path, an extension a longer key, and a branch a new
    /// one-nibble extension.
    fn lift(&mut self, child: Ptr, nibble: u8) -> Ptr {
        match child.kind() {
            Kind::Empty => Ptr::EMPTY,
            Kind::Leaf(i) => {
                self.leaves[i].rlp = RlpNode::default();
                child
            }
            Kind::Ext(i) => {
                let ext = &mut self.exts[i];
                ext.key = Nibbles::from_nibbles_unchecked([nibble]).join(&ext.key);
                ext.rlp = RlpNode::default();
                child
            }
            Kind::Branch(_) => {
                let key = Nibbles::from_nibbles_unchecked([nibble]);
                Ptr::ext(self.exts.alloc(Ext { key, child, rlp: RlpNode::default() }))
            }
        }
    }

    /// Gives extension `i` its new (post-removal) child, merging it when it is no longer a
    /// branch.
    fn reattach_ext(&mut self, i: u32, child: Ptr) -> Ptr {
        match child.kind() {
            Kind::Empty => {
                self.exts.release(i);
                Ptr::EMPTY
            }
            Kind::Leaf(leaf) => {
                // A leaf carries its own full path: the extension disappears.
                self.exts.release(i);
                self.leaves[leaf].rlp = RlpNode::default();
                child
            }
            Kind::Ext(j) => {
                let Ext { key: tail, child: grandchild, .. } = self.exts[j];
                self.exts.release(j);
                let ext = &mut self.exts[i];
                ext.key = ext.key.join(&tail);
                ext.child = grandchild;
                ext.rlp = RlpNode::default();
                Ptr::ext(i)
            }
            Kind::Branch(_) => {
                let ext = &mut self.exts[i];
                ext.child = child;
                ext.rlp = RlpNode::default();
                Ptr::ext(i)
            }
        }
    }

    /// Computes the root hash, rehashing only the nodes modified since the last call and caching
    /// the results. After `k` modifications this costs O(k · depth) hashes; a clean trie returns
    /// immediately. Large dirty sets are hashed in parallel (rayon) by subtree.
    pub fn root(&mut self) -> B256 {
        let (rlp, writes) = if self.pending >= PARALLEL_HASH_THRESHOLD {
            self.hash_parallel(self.root, 0, PARALLEL_HASH_LEVELS)
        } else {
            let mut writes = Writes::new();
            let rlp = self.hash_node(self.root, 0, &mut Vec::new(), &mut writes);
            (rlp, writes)
        };
        self.apply_writes(writes);
        self.pending = 0;
        self.root_from_rlp(&rlp)
    }

    /// Computes the root hash without storing anything: free on a clean trie (cached root), but
    /// repeated calls on a dirty trie redo the work. Prefer [`root`](Self::root).
    pub fn peek_root(&self) -> B256 {
        let rlp = self.hash_node(self.root, 0, &mut Vec::new(), &mut Writes::new());
        self.root_from_rlp(&rlp)
    }

    fn root_from_rlp(&self, rlp: &RlpNode) -> B256 {
        if self.root == Ptr::EMPTY { EMPTY_ROOT_HASH } else { root_hash_of(rlp) }
    }

    fn apply_writes(&mut self, writes: Writes) {
        for (ptr, rlp) in writes {
            match ptr.kind() {
                Kind::Empty => {}
                Kind::Leaf(i) => self.leaves[i].rlp = rlp,
                Kind::Ext(i) => self.exts[i].rlp = rlp,
                Kind::Branch(i) => self.branches[i].rlp = rlp,
            }
        }
    }

    /// Returns the reference (inline RLP or hash) of the subtree at `node`, which sits at nibble
    /// `depth`. Cached references are reused; freshly computed ones are appended to `writes`.
    fn hash_node(
        &self,
        node: Ptr,
        depth: usize,
        buf: &mut Vec<u8>,
        writes: &mut Writes,
    ) -> RlpNode {
        let rlp = match node.kind() {
            Kind::Empty => return RlpNode::from_rlp(&[EMPTY_STRING_CODE]),
            Kind::Leaf(i) => {
                let leaf = &self.leaves[i];
                if !leaf.rlp.is_empty() {
                    return leaf.rlp.clone();
                }
                let suffix = Nibbles::unpack(leaf.key).slice(depth..);
                buf.clear();
                LeafNodeRef::new(&suffix, &leaf.value).rlp(buf)
            }
            Kind::Ext(i) => {
                let ext = &self.exts[i];
                if !ext.rlp.is_empty() {
                    return ext.rlp.clone();
                }
                let child = self.hash_node(ext.child, depth + ext.key.len(), buf, writes);
                buf.clear();
                ExtensionNodeRef::new(&ext.key, &child).rlp(buf)
            }
            Kind::Branch(i) => {
                let branch = &self.branches[i];
                if !branch.rlp.is_empty() {
                    return branch.rlp.clone();
                }
                let mut stack = <[RlpNode; 16]>::default();
                let mut mask = TrieMask::default();
                let mut count = 0;
                for (nibble, child) in branch.children.iter().enumerate() {
                    if *child != Ptr::EMPTY {
                        stack[count] = self.hash_node(*child, depth + 1, buf, writes);
                        mask.set_bit(nibble as u8);
                        count += 1;
                    }
                }
                buf.clear();
                BranchNodeRef::new(&stack[..count], mask).rlp(buf)
            }
        };
        writes.push((node, rlp.clone()));
        rlp
    }

    /// [`hash_node`](Self::hash_node) with the children of the top `levels` dirty branches
    /// hashed as parallel tasks.
    fn hash_parallel(&self, node: Ptr, depth: usize, levels: u32) -> (RlpNode, Writes) {
        match node.kind() {
            Kind::Branch(i) if levels > 0 && self.branches[i].rlp.is_empty() => {
                let children = &self.branches[i].children;
                let results: Vec<Option<(RlpNode, Writes)>> = children
                    .par_iter()
                    .map(|child| {
                        (*child != Ptr::EMPTY)
                            .then(|| self.hash_parallel(*child, depth + 1, levels - 1))
                    })
                    .collect();
                let total = results.iter().flatten().map(|(_, w)| w.len()).sum::<usize>();
                let mut writes = Writes::with_capacity(total + 1);
                let mut stack = <[RlpNode; 16]>::default();
                let mut mask = TrieMask::default();
                let mut count = 0;
                for (nibble, result) in results.into_iter().enumerate() {
                    if let Some((rlp, child_writes)) = result {
                        stack[count] = rlp;
                        mask.set_bit(nibble as u8);
                        count += 1;
                        writes.extend(child_writes);
                    }
                }
                let rlp = BranchNodeRef::new(&stack[..count], mask).rlp(&mut Vec::new());
                writes.push((node, rlp.clone()));
                (rlp, writes)
            }
            Kind::Ext(i) if levels > 0 && self.exts[i].rlp.is_empty() => {
                let ext = &self.exts[i];
                let (child, mut writes) =
                    self.hash_parallel(ext.child, depth + ext.key.len(), levels);
                let rlp = ExtensionNodeRef::new(&ext.key, &child).rlp(&mut Vec::new());
                writes.push((node, rlp.clone()));
                (rlp, writes)
            }
            _ => {
                let mut writes = Writes::new();
                let rlp = self.hash_node(node, depth, &mut Vec::new(), &mut writes);
                (rlp, writes)
            }
        }
    }

    /// Returns the Merkle proof for `key`: the RLP encodings of the nodes on its path from the
    /// root, in order, as returned by `eth_getProof`. Nodes short enough to be embedded in their
    /// parent (< 32 bytes) are not listed separately. For an absent key this is an exclusion
    /// proof (the path up to where the key diverges); for an empty trie it is empty.
    ///
    /// Works on a dirty trie too (missing hashes are computed, not cached), but is cheapest after
    /// [`root`](Self::root).
    pub fn proof(&self, key: &B256) -> Vec<Bytes> {
        let path = Nibbles::unpack(key);
        let mut proof = Vec::new();
        let mut buf = Vec::new();
        let mut scratch = Vec::new();
        let mut discard = Writes::new();
        let mut node = self.root;
        let mut depth = 0;
        loop {
            buf.clear();
            let next = match node.kind() {
                Kind::Empty => break,
                Kind::Leaf(i) => {
                    let leaf = &self.leaves[i];
                    let suffix = Nibbles::unpack(leaf.key).slice(depth..);
                    LeafNodeRef::new(&suffix, &leaf.value).encode(&mut buf);
                    None
                }
                Kind::Ext(i) => {
                    let ext = &self.exts[i];
                    let end = depth + ext.key.len();
                    let child = self.hash_node(ext.child, end, &mut scratch, &mut discard);
                    ExtensionNodeRef::new(&ext.key, &child).encode(&mut buf);
                    (path.slice(depth..end) == ext.key).then_some((ext.child, end))
                }
                Kind::Branch(i) => {
                    let branch = &self.branches[i];
                    let mut stack = <[RlpNode; 16]>::default();
                    let mut mask = TrieMask::default();
                    let mut count = 0;
                    for (nibble, child) in branch.children.iter().enumerate() {
                        if *child != Ptr::EMPTY {
                            stack[count] =
                                self.hash_node(*child, depth + 1, &mut scratch, &mut discard);
                            mask.set_bit(nibble as u8);
                            count += 1;
                        }
                    }
                    discard.clear();
                    BranchNodeRef::new(&stack[..count], mask).encode(&mut buf);
                    let child = branch.children[usize::from(nibble_at(key, depth))];
                    (child != Ptr::EMPTY).then_some((child, depth + 1))
                }
            };
            // A node under 32 bytes is inlined in its parent, and so is everything below it.
            if !proof.is_empty() && buf.len() < 32 {
                break;
            }
            proof.push(Bytes::copy_from_slice(&buf));
            let Some((child, child_depth)) = next else {
                break;
            };
            node = child;
            depth = child_depth;
        }
        proof
    }

    /// Checks the structural invariants; panics with a description on violation.
    #[cfg(test)]
    pub(crate) fn assert_invariants(&self) {
        let mut leaves = 0;
        self.check_node(self.root, 0, &Nibbles::new(), true, &mut leaves);
        assert_eq!(leaves, self.len, "len mismatch");
        assert_eq!(self.leaves.live(), self.len, "leaked leaves");
    }

    #[cfg(test)]
    fn check_node(
        &self,
        node: Ptr,
        depth: usize,
        prefix: &Nibbles,
        root: bool,
        leaves: &mut usize,
    ) {
        assert!(depth <= KEY_NIBBLES);
        match node.kind() {
            Kind::Empty => assert!(root, "empty subtree below the root"),
            Kind::Leaf(i) => {
                *leaves += 1;
                assert!(Nibbles::unpack(self.leaves[i].key).starts_with(prefix), "misplaced leaf");
                assert!(!self.leaves[i].value.is_empty());
            }
            Kind::Ext(i) => {
                let ext = &self.exts[i];
                assert!(!ext.key.is_empty(), "empty extension key");
                assert!(
                    matches!(ext.child.kind(), Kind::Branch(_)),
                    "extension child not a branch"
                );
                let prefix = prefix.join(&ext.key);
                self.check_node(ext.child, depth + ext.key.len(), &prefix, false, leaves);
            }
            Kind::Branch(i) => {
                let branch = &self.branches[i];
                let count = branch.children.iter().filter(|c| **c != Ptr::EMPTY).count();
                assert!(count >= 2, "branch with {count} children");
                for (nibble, child) in branch.children.iter().enumerate() {
                    if *child != Ptr::EMPTY {
                        let mut prefix = *prefix;
                        prefix.push(nibble as u8);
                        self.check_node(*child, depth + 1, &prefix, false, leaves);
                    }
                }
            }
        }
    }

    /// Node counts `(leaves, extensions, branches)`, for diagnostics.
    pub fn node_counts(&self) -> (usize, usize, usize) {
        (self.leaves.live(), self.exts.live(), self.branches.live())
    }
}
