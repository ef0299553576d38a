//! Unit tests of both ways in: grammar corners, duplicates and depth as tables, and proptest
//! holding [`RawObject`] to the tree parser (same acceptance, same members, same error).

use std::borrow::Cow;

use proptest::prelude::*;
use serde_json::Value;

use super::*;
#[test]
fn accepts_ordinary_objects() {
    let map = parse_object(br#"{"a":1,"b":[true,null,"x",1.5,-3],"c":{"d":{}}}"#);
    assert_eq!(map.map(|m| m.len()), Ok(3));
}

#[test]
fn rejects_duplicates_even_when_escaped_differently() {
    assert_eq!(
        parse_object(br#"{"alg":"RS256","alg":"none"}"#),
        Err(JsonError::DuplicateMember("alg".into()))
    );
    assert_eq!(
        parse_object(br#"{"alg":"RS256","\u0061lg":"none"}"#),
        Err(JsonError::DuplicateMember("alg".into()))
    );
    assert_eq!(
        parse_object(br#"{"x":{"k":1,"k":2}}"#),
        Err(JsonError::DuplicateMember("k".into()))
    );
}

#[test]
fn bounds_depth() {
    let ok = format!(
        "{}{}",
        "[".repeat(MAX_JSON_DEPTH),
        "]".repeat(MAX_JSON_DEPTH)
    );
    assert!(parse_value(ok.as_bytes()).is_ok());
    let deep = format!(
        "{}{}",
        "[".repeat(MAX_JSON_DEPTH + 1),
        "]".repeat(MAX_JSON_DEPTH + 1)
    );
    assert_eq!(parse_value(deep.as_bytes()), Err(JsonError::TooDeep));
    let very_deep = "[".repeat(100_000);
    assert_eq!(parse_value(very_deep.as_bytes()), Err(JsonError::TooDeep));
}

/// `RawObject::parse` must accept exactly what `parse_object` accepts, with the same
/// members, and refuse the rest with the same error.
fn same_as_tree(doc: &[u8]) {
    let fast = RawObject::parse(doc).map(|o| o.to_map());
    assert_eq!(fast, parse_object(doc), "{}", String::from_utf8_lossy(doc));
}

#[test]
fn raw_object_agrees_with_the_tree_parser() {
    let nested_ok = format!(
        r#"{{"a":{}{}}}"#,
        "[".repeat(MAX_JSON_DEPTH - 1),
        "]".repeat(MAX_JSON_DEPTH - 1)
    );
    let nested_deep = format!(
        r#"{{"a":{}{}}}"#,
        "[".repeat(MAX_JSON_DEPTH),
        "]".repeat(MAX_JSON_DEPTH)
    );
    let many_members: String = (0..40).map(|i| format!(r#""m{i}":{i},"#)).collect();
    let many_ok = format!("{{{many_members}\"z\":0}}");
    let many_dup = format!("{{{many_members}\"m7\":0}}");
    let nested_many = format!(r#"{{"o":{{{many_members}"m39":1}}}}"#);
    let docs: Vec<&[u8]> = vec![
        br#"{"a":1,"b":[true,null,"x",1.5,-3],"c":{"d":{}}}"#,
        br#" { "a" : "x" , "b" : [ ] } "#,
        b"{}",
        br#"{"alg":"RS256","alg":"none"}"#,
        br#"{"alg":"RS256","\u0061lg":"none"}"#,
        br#"{"x":{"k":1,"k":2}}"#,
        br#"{"x":[{"k":1},{"k":1,"\u006b":2}]}"#,
        br#"{"x":{"k":1,"k":2},"y":tru}"#,
        br#"{"s":"\ud800"}"#,
        br#"{"s":["\ud800"]}"#,
        br#"{"\ud800":1}"#,
        br#"{"s":"\u00e9\n\"\\"}"#,
        b"{\"s\":\"a\x01b\"}",
        b"{\"s\":\"\xff\"}",
        br#"{"n":1e400}"#,
        br#"{"n":[1e400]}"#,
        br#"{"n":-0.0,"m":1E-7,"k":18446744073709551616}"#,
        br#"{"n":01}"#,
        br#"{"t":true,"f":false,"z":null}"#,
        br#"{"t":tRue}"#,
        b"[]",
        b"[{\"k\":1,\"k\":1}]",
        b"\"str\"",
        b"{} {}",
        b"{",
        b"",
        b"{\"a\":1,}",
        nested_ok.as_bytes(),
        nested_deep.as_bytes(),
        many_ok.as_bytes(),
        many_dup.as_bytes(),
        nested_many.as_bytes(),
    ];
    for doc in docs {
        same_as_tree(doc);
    }
    // Grammar corners, each as the value of a member and inside an array.
    let values = [
        "0",
        "-0",
        "-0.0e-0",
        "0e0",
        "1.",
        "1.e5",
        "-",
        "+1",
        ".5",
        "1e",
        "1e+",
        "1E-7",
        "01",
        "-01",
        "00",
        "1.5.3",
        "1e400",
        "-1e400",
        "1e-400",
        "1.7976931348623157e308",
        "1.8e308",
        "123456789012345678",
        "1234567890123456789012345",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        r#""\u00""#,
        r#""\uD83D\uDE00""#,
        r#""\uDE00""#,
        r#""\uD83Dx""#,
        r#""\uD83D\u0041""#,
        r#""\x""#,
        r#""\u0000""#,
        "\"\u{7f}\"",
        "\"\u{0}\"",
        "\"\t\"",
        r#""\/""#,
        r#""\"""#,
        r#""\\""#,
        r#""a\""#,
        "tru",
        "true1",
        "nul",
        "nulll",
        "[1,]",
        "[,1]",
        "[1 2]",
        "[]",
        "[ ]",
        "{}",
        r#"{"":1,"":2}"#,
        r#"{"a":1,}"#,
        r#"{"a" 1}"#,
        r#"{1:1}"#,
        "\u{c}1",
        "\u{a0}1",
        "1\u{c}",
    ];
    for value in values {
        same_as_tree(format!(r#"{{"v":{value}}}"#).as_bytes());
        same_as_tree(format!(r#"{{"v":[{value}]}}"#).as_bytes());
        same_as_tree(format!(r#"{{{value}:1}}"#).as_bytes());
    }
    for doc in ["\u{feff}{}", " \t\n\r{}\r\n\t ", "{}\u{0}"] {
        same_as_tree(doc.as_bytes());
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300..1e300f64).prop_map(Value::from),
        "[ab\\\\\"/\u{e9}\u{1F600}\n]{0,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(8, 64, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[ab]{0,2}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Fragments that turn valid JSON into interesting invalid (or differently valid) JSON:
/// duplicate names, escapes, surrogates, control characters, huge numbers, stray tokens.
const SPLICES: &[&str] = &[
    r#""a""#,
    r#""\u0061""#,
    r#""b":1,"b""#,
    "\\ud800",
    "\\ud83d\\ude00",
    "\u{1}",
    "1e400",
    "-0",
    "01",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "\"",
    "\\",
    "tru",
    "null",
    " ",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Token soup: short documents from JSON's alphabet, mostly invalid in interesting ways.
    #[test]
    fn raw_object_matches_tree_parser_on_token_soup(
        tokens in proptest::collection::vec(proptest::sample::select(&[
            "{", "}", "[", "]", ",", ":", " ", "\"a\"", "\"\\u0061\"", "\"b\"", "\"\\ud800\"",
            "\"\\\"\"", "0", "-1", "1.5", "2e9", "1e999", "true", "null", "\"", "\\",
        ][..]), 0..24),
    ) {
        let doc = format!("{{{}", tokens.concat());
        same_as_tree(doc.as_bytes());
    }

    #[test]
    fn raw_object_matches_tree_parser_on_arbitrary_documents(
        members in proptest::collection::btree_map("[ab]{0,2}", arbitrary_json(), 0..5),
        splice in proptest::sample::select(SPLICES),
        at in any::<proptest::sample::Index>(),
        cut in any::<proptest::sample::Index>(),
        mode in 0..4u8,
    ) {
        let valid = Value::Object(members.into_iter().collect()).to_string();
        let mut doc = valid.clone().into_bytes();
        let at = at.index(doc.len() + 1);
        match mode {
            0 => {}
            1 => { doc.splice(at..at, splice.bytes()); }
            2 => { let end = (at + cut.index(4)).min(doc.len()); doc.splice(at..end, splice.bytes()); }
            _ => { doc.truncate(at); }
        }
        same_as_tree(&doc);
    }
}

#[test]
fn lookups_find_every_name_length_and_position() {
    for len in 0..12 {
        let name: String = "abcdefghijkl"[..len].to_owned();
        for doc in [
            format!(r#"{{"{name}":1,"x":2}}"#),
            format!(r#"{{"x":2,"{name}":1}}"#),
            format!(r#"{{"x":2, "{name}"  :1 }}"#),
        ] {
            let object = RawObject::parse(doc.as_bytes()).unwrap();
            assert_eq!(object.get(&name).map(|v| v.text()), Some("1"), "{doc}");
            assert_eq!(object.get("x").map(|v| v.text()), Some("2"), "{doc}");
            assert!(!object.contains(&format!("{name}z")), "{doc}");
        }
        let escaped = format!(r#"{{"\u0061{}":1}}"#, &name[len.min(1)..]);
        let object = RawObject::parse(escaped.as_bytes()).unwrap();
        let decoded = format!("a{}", &name[len.min(1)..]);
        assert!(object.contains(&decoded), "{escaped}");
    }
}

#[test]
fn raw_readers() {
    let doc = br#"{"s":"plain","e":"a\/b\u00e9","n":17,"f":-1.5e3,"b":true,"z":null,
                   "a":["x","y\n",3,{"k":[1]},["z"]],"o":{"k":"v"}}"#;
    let object = RawObject::parse(doc).unwrap();
    let get = |name| object.get(name).unwrap();
    assert_eq!(get("s").as_str(), Some(Cow::Borrowed("plain")));
    assert!(matches!(get("s").as_str(), Some(Cow::Borrowed(_))));
    assert_eq!(get("e").as_str().as_deref(), Some("a/b\u{e9}"));
    assert_eq!(get("n").as_str(), None);
    assert_eq!(get("z").as_str(), None);
    assert_eq!(get("z").kind(), JsonKind::Null);
    assert_eq!(get("o").text(), r#"{"k":"v"}"#);
    assert_eq!(get("n").as_f64(), Some(17.0));
    assert_eq!(get("f").as_f64(), Some(-1500.0));
    assert_eq!(get("s").as_f64(), None);
    assert_eq!(get("b").as_f64(), None);
    let mut items = Vec::new();
    assert!(get("a").for_each_str_item(|item| items.push(item)));
    assert_eq!(
        items,
        [Some("x".into()), Some("y\n".into()), None, None, None]
    );
    assert!(!get("o").for_each_str_item(|_| panic!("not an array")));
    assert!(!get("s").for_each_str_item(|_| panic!("not an array")));
    assert!(object.contains("z"));
    assert!(!object.contains("missing"));
    assert_eq!(object.len(), 8);
    assert_eq!(object.text().as_bytes(), doc);
    let mut empty = 0;
    let doc = br#"{"e":[ ],"w":[ "a" , 1 ]}"#;
    let object = RawObject::parse(doc).unwrap();
    assert!(object.get("e").unwrap().for_each_str_item(|_| empty += 1));
    assert_eq!(empty, 0);
    let mut items = Vec::new();
    assert!(
        object
            .get("w")
            .unwrap()
            .for_each_str_item(|i| items.push(i))
    );
    assert_eq!(items, [Some("a".into()), None]);
}

#[test]
fn rejects_non_objects_trailing_data_and_bad_utf8() {
    assert_eq!(parse_object(b"[]"), Err(JsonError::NotAnObject));
    assert!(matches!(parse_object(b"{} {}"), Err(JsonError::Syntax(_))));
    assert!(matches!(
        parse_object(b"{\"a\":\"\xff\"}"),
        Err(JsonError::Syntax(_))
    ));
    assert!(matches!(
        parse_object(br#"{"a":"\ud800"}"#),
        Err(JsonError::Syntax(_))
    ));
}
