//! Fuzzes jose's strict JSON: never panics; the zero-copy scanner (`RawObject::parse`) and the
//! tree parser (`parse_object`) accept the same documents, with the same members, and refuse
//! with the same error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_jose::strict_json::{RawObject, parse_object, parse_value};

fuzz_target!(|data: &[u8]| {
    let _ = parse_value(data);
    let tree = parse_object(data);
    let raw = RawObject::parse(data);
    match (&tree, &raw) {
        (Ok(map), Ok(object)) => {
            assert_eq!(&object.to_map(), map, "same members");
            assert_eq!(object.len(), map.len());
            for (name, value) in object.members() {
                let _ = (value.as_str(), value.as_f64(), value.kind());
                value.for_each_str_item(|_| {});
                assert!(map.contains_key(name));
            }
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "same refusal"),
        _ => panic!(
            "scanner and parser disagree: tree {tree:?}, raw {:?}",
            raw.map(|r| r.to_map())
        ),
    }
});
