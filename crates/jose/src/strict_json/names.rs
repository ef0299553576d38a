//! Member names and duplicate detection for the zero-copy path: a name's fingerprint (length
//! and first seven bytes, an exact pre-filter), [`Name`], and [`SeenNames`], which finds a
//! repeated name in one object (a bit filter, then a linear scan for small objects or a hash set
//! for large ones, so hostile input stays linear). No parsing here: the scanner supplies names.

use std::borrow::Cow;
use std::collections::HashSet;

/// Up to this many members, duplicate names are found by a linear scan of fingerprints (no
/// allocation); larger objects switch to a hash set so hostile input stays linear.
const LINEAR_DUPLICATE_SCAN: usize = 16;

/// A cheap, exact pre-filter for name comparison: the length and the first seven bytes. Equal
/// names have equal fingerprints; equal fingerprints are confirmed by comparing the names.
#[inline(always)]
pub(super) fn fingerprint(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut fp = (bytes.len() as u64) << 56;
    for (i, byte) in bytes.iter().take(7).enumerate() {
        fp |= u64::from(*byte) << (8 * i);
    }
    fp
}

/// A member name, decoded, with its fingerprint.
#[derive(Debug, Clone)]
pub(super) struct Name<'a> {
    pub(super) fingerprint: u64,
    pub(super) text: Cow<'a, str>,
}

impl Name<'_> {
    pub(super) fn is(&self, fingerprint: u64, name: &str) -> bool {
        self.fingerprint == fingerprint && self.text == name
    }
}

/// Duplicate detection for one object. A 64-bit filter of the fingerprints seen answers "new"
/// for most names without looking at the earlier ones; otherwise the earlier names are scanned
/// (a small object) or looked up in a hash set (a large one, so hostile input stays linear).
#[derive(Default)]
pub(super) struct SeenNames<'a> {
    filter: u64,
    pub(super) large: Option<HashSet<Cow<'a, str>>>,
}

impl<'a> SeenNames<'a> {
    /// Whether `name` differs from every name in `earlier` (all names so far, in order).
    pub(super) fn is_new<'n>(
        &mut self,
        name: &Name<'a>,
        mut earlier: impl ExactSizeIterator<Item = &'n Name<'a>>,
    ) -> bool
    where
        'a: 'n,
    {
        if let Some(set) = &mut self.large {
            return set.insert(name.text.clone());
        }
        let bit = 1u64 << (name.fingerprint.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58);
        let maybe_seen = self.filter & bit != 0;
        self.filter |= bit;
        if earlier.len() < LINEAR_DUPLICATE_SCAN {
            return !maybe_seen || !earlier.any(|seen| seen.is(name.fingerprint, &name.text));
        }
        let mut set: HashSet<Cow<'a, str>> = earlier.map(|n| n.text.clone()).collect();
        let new = set.insert(name.text.clone());
        self.large = Some(set);
        new
    }
}
