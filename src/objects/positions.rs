//! Where each field of a loaded object sits in its source text, looked up by [`FieldPath`].

use std::sync::Arc;

use crate::validate::FieldPath;
use crate::validate::field::Segment;

/// A 1-based line and column (columns count characters); line 0 means "no position".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) line: u32,
    pub(super) column: u32,
}

impl Pos {
    pub(super) const NONE: Pos = Pos { line: 0, column: 0 };
    pub(super) const START: Pos = Pos { line: 1, column: 1 };

    fn get(self) -> Option<(usize, usize)> {
        (self.line != 0).then_some((self.line as usize, self.column as usize))
    }
}

/// What a node holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    Scalar,
    Sequence,
    Mapping,
}

/// One node of a [`Tree`]. Ranges are `(start, len)` pairs of `u32`, which keeps a node at 44
/// bytes: inputs are at most 64 MiB, so no count or offset exceeds `u32`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct PositionNode {
    value: Pos,
    /// Where the node's key is, for the values of mapping entries.
    key: Pos,
    /// The node's key in its parent mapping: a range of `Tree::keys`.
    key_text: (u32, u32),
    /// The node's children: a range of `Tree::children`, sequence items in order, mapping
    /// entries sorted by key.
    children: (u32, u32),
    parent: u32,
    /// One past the last node of this node's subtree (nodes are in document order).
    end: u32,
    shape: Shape,
}

/// The nodes of one document, in document order.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Tree {
    nodes: Vec<PositionNode>,
    children: Vec<u32>,
    keys: String,
}

/// The positions of an object's fields: for each field, list item and map key of its value,
/// the 1-based line and column (in characters) of the value and of the key in the source text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Positions {
    /// Shared by the items of a `List`, which are views of the list's tree.
    tree: Arc<Tree>,
    root: u32,
}

/// One entry of [`Positions::iter`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPosition {
    /// The path of the node (the root for the object itself). Every mapping key is a
    /// [`Segment::Field`]: positions do not know which fields are map-typed.
    pub path: FieldPath,
    /// 1-based (line, column) of the value.
    pub value: Option<(usize, usize)>,
    /// 1-based (line, column) of the key, for mapping entries.
    pub key: Option<(usize, usize)>,
}

/// One step down a tree.
#[derive(Clone, Copy)]
pub(super) enum PathStep<'a> {
    Key(&'a str),
    Index(usize),
}

impl Positions {
    /// Position of the value at `path`.
    pub fn value(&self, path: &FieldPath) -> Option<(usize, usize)> {
        let id = self.find(steps(path)).0?;
        self.tree.nodes[id].value.get()
    }

    /// Position of the key of the entry at `path` (for a finding about the key itself, such as
    /// an unknown field or an option key).
    pub fn key(&self, path: &FieldPath) -> Option<(usize, usize)> {
        let id = self.find(steps(path)).0?;
        self.tree.nodes[id].key.get()
    }

    /// Where a finding about `path` is shown: its key (`on_key`: the finding is about the key
    /// itself) or its value, else the [`nearest`](Self::nearest) position.
    pub fn locate(&self, path: &FieldPath, on_key: bool) -> (usize, usize) {
        let exact = if on_key {
            self.key(path)
        } else {
            self.value(path)
        };
        exact.unwrap_or_else(|| self.nearest(path))
    }

    /// Best position for `path`: its value, else its key, else the nearest ancestor that has
    /// one; `(1, 1)` when nothing matches at all.
    pub fn nearest(&self, path: &FieldPath) -> (usize, usize) {
        let (found, deepest) = self.find(steps(path));
        let mut id = found.unwrap_or(deepest);
        while let Some(node) = self.tree.nodes.get(id) {
            if let Some(p) = node.value.get().or(node.key.get()) {
                return p;
            }
            if id == self.root as usize {
                break;
            }
            id = node.parent as usize;
        }
        (1, 1)
    }

    /// Number of nodes (fields, items and the object itself).
    pub fn len(&self) -> usize {
        self.tree
            .nodes
            .get(self.root as usize)
            .map_or(0, |n| (n.end - self.root) as usize)
    }

    /// Whether there are no positions at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every node with its path, in document order.
    pub fn iter(&self) -> impl Iterator<Item = PathPosition> + '_ {
        let start = self.root as usize;
        (start..start + self.len()).map(|id| PathPosition {
            path: self.path_of(id),
            value: self.tree.nodes[id].value.get(),
            key: self.tree.nodes[id].key.get(),
        })
    }

    /// The positions of the node at `steps`, as an object of its own (the items of a `List`).
    pub(super) fn subtree(&self, steps: &[PathStep<'_>]) -> Option<Positions> {
        let id = self.find(steps.iter().copied()).0?;
        Some(Positions {
            tree: Arc::clone(&self.tree),
            root: id as u32,
        })
    }

    /// The position of the value at `steps`, or of the root.
    pub(super) fn value_or_root(&self, steps: &[PathStep<'_>]) -> Pos {
        let id = self.find(steps.iter().copied()).0;
        let id = id.unwrap_or(self.root as usize);
        self.tree.nodes.get(id).map_or(Pos::NONE, |n| n.value)
    }

    /// The node at `steps`, and the deepest node matched on the way.
    fn find<'a>(&self, steps: impl IntoIterator<Item = PathStep<'a>>) -> (Option<usize>, usize) {
        let tree = &*self.tree;
        let mut id = self.root as usize;
        if id >= tree.nodes.len() {
            return (None, id);
        }
        for step in steps {
            let node = &tree.nodes[id];
            let kids = tree.children_of(node);
            let child = match (step, node.shape) {
                (PathStep::Index(i), Shape::Sequence) => kids.get(i).copied(),
                (PathStep::Key(key), Shape::Mapping) => kids
                    .binary_search_by(|&c| tree.key_of(c as usize).cmp(key))
                    .ok()
                    .map(|i| kids[i]),
                _ => None,
            };
            match child {
                Some(child) => id = child as usize,
                None => return (None, id),
            }
        }
        (Some(id), id)
    }

    /// The path of node `id`, from this view's root.
    fn path_of(&self, id: usize) -> FieldPath {
        let tree = &*self.tree;
        let mut chain = Vec::new();
        let mut cur = id;
        while cur != self.root as usize {
            chain.push(cur);
            cur = tree.nodes[cur].parent as usize;
        }
        let mut path = FieldPath::root();
        for &node in chain.iter().rev() {
            let parent = &tree.nodes[tree.nodes[node].parent as usize];
            path = match parent.shape {
                Shape::Sequence => {
                    let kids = tree.children_of(parent);
                    // Items are in document order, so their ids increase.
                    let index = kids.binary_search(&(node as u32)).unwrap_or_default();
                    path.index(index)
                }
                _ => path.field_owned(tree.key_of(node)),
            };
        }
        path
    }
}

fn steps(path: &FieldPath) -> impl Iterator<Item = PathStep<'_>> {
    path.segments().iter().map(|segment| match segment {
        Segment::Field(name) => PathStep::Key(name),
        Segment::Key(key) => PathStep::Key(key),
        Segment::Index(index) => PathStep::Index(*index),
    })
}

impl Tree {
    fn children_of(&self, node: &PositionNode) -> &[u32] {
        let (start, len) = node.children;
        &self.children[start as usize..(start + len) as usize]
    }

    fn key_of(&self, id: usize) -> &str {
        let (start, len) = self.nodes[id].key_text;
        &self.keys[start as usize..(start + len) as usize]
    }
}

/// Builds a [`Tree`] in document order: a node is added before its children, and its children
/// are attached once they are all added.
#[derive(Debug, Default)]
pub(super) struct TreeBuilder {
    tree: Tree,
}

impl TreeBuilder {
    /// Adds a node; `key` is its key in its parent mapping, if it is a mapping's value.
    pub(super) fn add(&mut self, value: Pos, key: Option<(&str, Pos)>, shape: Shape) -> u32 {
        let id = to_u32(self.tree.nodes.len());
        let (key_pos, key_text) = match key {
            Some((text, pos)) => {
                let start = to_u32(self.tree.keys.len());
                self.tree.keys.push_str(text);
                (pos, (start, to_u32(text.len())))
            }
            None => (Pos::NONE, (0, 0)),
        };
        self.tree.nodes.push(PositionNode {
            value,
            key: key_pos,
            key_text,
            children: (0, 0),
            parent: id,
            end: id + 1,
            shape,
        });
        id
    }

    /// Attaches `children` (in document order) to `id`, which closes its subtree.
    pub(super) fn attach(&mut self, id: u32, children: &[u32]) {
        let start = to_u32(self.tree.children.len());
        self.tree.children.extend_from_slice(children);
        let end = to_u32(self.tree.nodes.len());
        let tree = &mut self.tree;
        let node = &mut tree.nodes[id as usize];
        node.children = (start, to_u32(children.len()));
        node.end = end;
        for &child in children {
            tree.nodes[child as usize].parent = id;
        }
        if tree.nodes[id as usize].shape == Shape::Mapping {
            let Tree {
                nodes,
                children,
                keys,
            } = tree;
            let key = |c: u32| {
                let (s, l) = nodes[c as usize].key_text;
                &keys[s as usize..(s + l) as usize]
            };
            children[start as usize..].sort_unstable_by(|&a, &b| key(a).cmp(key(b)));
        }
    }

    /// The positions of the document, rooted at its first node.
    pub(super) fn finish(self) -> Positions {
        Positions {
            tree: Arc::new(self.tree),
            root: 0,
        }
    }
}

pub(super) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
