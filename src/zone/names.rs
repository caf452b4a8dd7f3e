//! The names of one zone and their nodes, found by their lower-cased wire form, as the fast
//! path's prepared table finds them: every name back to back in one arena, the nodes in one
//! vector, and a table of node indexes by hash. A name costs its octets, its node and five
//! octets of table, where a map keyed by hickory's `Name` spent about 200 (the `Name` itself
//! is 80 octets, and a map holds room for twice its entries): on a zone of a million names,
//! the difference is most of a gigabyte of the load's peak and 170 MB of what it serves from.

use std::hash::Hasher;

use hashbrown::HashTable;
use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use rustc_hash::FxHasher;

/// The longest name in wire form (RFC 1035 §3.1).
pub const MAX_WIRE: usize = 255;

/// Values by name (lower-cased wire form), each name once, in the order they came.
#[derive(Debug)]
pub struct Names<T> {
    /// Every name, lower-cased wire form, back to back: name `i` from `starts[i]` to
    /// `starts[i + 1]` (or the end).
    arena: Vec<u8>,
    starts: Vec<u32>,
    nodes: Vec<T>,
    /// Indexes into `nodes`, by the hash of the name.
    table: HashTable<u32>,
}

impl<T> Default for Names<T> {
    fn default() -> Self {
        Names {
            arena: Vec::new(),
            starts: Vec::new(),
            nodes: Vec::new(),
            table: HashTable::new(),
        }
    }
}

impl<T: Default> Names<T> {
    /// Room for `n` names of `octets` octets together (what is not used of it is never
    /// touched, and costs no memory).
    pub fn with_capacity(n: usize, octets: usize) -> Self {
        Names {
            arena: Vec::with_capacity(octets),
            starts: Vec::with_capacity(n),
            nodes: Vec::with_capacity(n),
            table: HashTable::with_capacity(n),
        }
    }

    /// How many names.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Name `i` (in the order they came).
    pub fn key(&self, i: usize) -> &[u8] {
        let end = self
            .starts
            .get(i + 1)
            .map_or(self.arena.len(), |&e| e as usize);
        &self.arena[self.starts[i] as usize..end]
    }

    /// Octets of all the names together.
    pub fn octets(&self) -> usize {
        self.arena.len()
    }

    /// Where `wire` stands in the order the names came.
    pub fn index(&self, wire: &[u8]) -> Option<usize> {
        let i = self
            .table
            .find(hash(wire), |&i| self.key(i as usize) == wire)?;
        Some(*i as usize)
    }

    /// Value `i` (in the order they came).
    pub fn value(&self, i: usize) -> &T {
        &self.nodes[i]
    }

    /// Value `i`, to change.
    #[cfg(test)]
    fn value_mut(&mut self, i: usize) -> &mut T {
        &mut self.nodes[i]
    }

    /// The node of `wire`, to change.
    pub fn get_mut(&mut self, wire: &[u8]) -> Option<&mut T> {
        self.index(wire).map(|i| &mut self.nodes[i])
    }

    /// Whether `wire` is a name here.
    pub fn contains(&self, wire: &[u8]) -> bool {
        self.index(wire).is_some()
    }

    /// Where `wire` stands in the order the names came, added (with an empty value) if it was
    /// not there.
    pub fn index_or_insert(&mut self, wire: &[u8]) -> usize {
        match self.index(wire) {
            Some(i) => i,
            None => self.push(wire, T::default()),
        }
    }

    /// Adds `wire`, which the caller knows is not here yet (no lookup first); its index.
    pub fn push(&mut self, wire: &[u8], node: T) -> usize {
        let i = self.nodes.len();
        let at = u32::try_from(self.arena.len()).expect("names of a zone fit in 4 GiB");
        self.starts.push(at);
        self.arena.extend_from_slice(wire);
        self.nodes.push(node);
        let index = u32::try_from(i).expect("fewer than 2^32 names");
        let (starts, arena) = (&self.starts, &self.arena);
        self.table.insert_unique(hash(wire), index, |&j| {
            let j = j as usize;
            let end = starts.get(j + 1).map_or(arena.len(), |&e| e as usize);
            hash(&arena[starts[j] as usize..end])
        });
        i
    }

    /// Every name (lower-cased wire form) and its node, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &T)> {
        (0..self.nodes.len()).map(|i| (self.key(i), &self.nodes[i]))
    }

    /// Gives back the room it holds beyond its names.
    pub fn shrink_to_fit(&mut self) {
        self.arena.shrink_to_fit();
        self.starts.shrink_to_fit();
        self.nodes.shrink_to_fit();
        let (starts, arena) = (&self.starts, &self.arena);
        self.table.shrink_to_fit(|&j| {
            let j = j as usize;
            let end = starts.get(j + 1).map_or(arena.len(), |&e| e as usize);
            hash(&arena[starts[j] as usize..end])
        });
    }
}

fn hash(key: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(key);
    h.finish()
}

/// `name` in lower-cased wire form, written into `buf`.
pub fn lower<'b>(name: &Name, buf: &'b mut [u8; MAX_WIRE]) -> &'b [u8] {
    let mut at = 0;
    for label in name.iter() {
        // A `Name` holds at most 255 octets of wire form, so this never runs past `buf`.
        buf[at] = label.len() as u8;
        at += 1;
        for (o, b) in buf[at..at + label.len()].iter_mut().zip(label) {
            *o = b.to_ascii_lowercase();
        }
        at += label.len();
    }
    buf[at] = 0;
    &buf[..=at]
}

/// `wire`'s parent: the name without its first label (`None` for the root).
pub fn parent(wire: &[u8]) -> Option<&[u8]> {
    let first = usize::from(*wire.first()?);
    (first != 0).then(|| wire.get(1 + first..)).flatten()
}

/// The name `wire` is.
pub fn to_name(wire: &[u8]) -> Name {
    Name::read(&mut BinDecoder::new(wire)).expect("a zone's names are valid wire names")
}

/// Whether `wire` is a wildcard (`*` is its first label).
pub fn is_wildcard(wire: &[u8]) -> bool {
    wire.starts_with(&[1, b'*'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_by_their_lower_cased_wire_form() {
        let mut nodes: Names<bool> = Names::with_capacity(10, 100);
        let mut buf = [0; MAX_WIRE];
        for i in 0..1000 {
            let name = Name::from_ascii(format!("Host{i}.Example.")).unwrap();
            let j = nodes.index_or_insert(lower(&name, &mut buf));
            *nodes.value_mut(j) = i % 2 == 0;
        }
        nodes.shrink_to_fit();
        assert_eq!(nodes.len(), 1000);
        let name = Name::from_ascii("HOST42.example.").unwrap();
        let wire = lower(&name, &mut buf).to_vec();
        assert_eq!(wire, b"\x06host42\x07example\x00");
        assert_eq!(nodes.index(&wire).map(|i| nodes.value(i)), Some(&true));
        assert!(
            nodes
                .get_mut(b"\x06host43\x07example\x00")
                .is_some_and(|v| !*v)
        );
        assert!(!nodes.contains(b"\x07host1000\x07example\x00"));
        assert_eq!(parent(&wire), Some(&b"\x07example\x00"[..]));
        assert_eq!(parent(b"\x00"), None);
        assert_eq!(to_name(&wire), name);
        let keys: Vec<Name> = nodes.iter().map(|(k, _)| to_name(k)).take(2).collect();
        assert_eq!(keys[1], Name::from_ascii("host1.example.").unwrap());
    }
}
