//! The mapper and a JSON Schema validator (the `jsonschema` crate) given our generated schema
//! must agree on every document: a hand-written corpus of valid and invalid documents, plus
//! thousands of random documents built from the model's keys and a pool of tricky values.

use jsonschema::Validator;
use kres_tests::agree::Agree;
use proptest::prelude::*;
use schema_core::{Value, json_schema::schema_for, map_document};
use serde_json::{Value as Json, json};

fn validator() -> Validator {
    let schema = schema_for::<Agree>(None);
    jsonschema::validator_for(&schema).expect("the generated schema is a valid JSON Schema")
}

/// Both verdicts, with the mapper's report for failure messages.
fn verdicts(validator: &Validator, doc: &Json) -> (bool, bool, String) {
    let mapped = map_document::<Agree>(&Value::from_json(doc));
    let schema_ok = validator.is_valid(doc);
    let report = match &mapped {
        Ok(_) => String::new(),
        Err(report) => report.to_string(),
    };
    (mapped.is_ok(), schema_ok, report)
}

fn assert_agree(validator: &Validator, doc: &Json) {
    let (mapper_ok, schema_ok, report) = verdicts(validator, doc);
    let schema_errors: Vec<String> =
        validator.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert_eq!(mapper_ok, schema_ok, "disagreement on {doc}\nmapper: {report}\nschema: {schema_errors:?}");
}

#[test]
fn corpus() {
    let validator = validator();
    let valid = [
        json!({}),
        json!({"workers": "auto", "name": "abc", "enabled": false, "ratio": 1, "level": 64}),
        json!({"workers": 3, "size": "1024K", "timeout": "500ms", "mode": "c-d"}),
        json!({"listen": [{"interface": "127.0.0.1@53"}, {"interface": ["::1", "10.0.0.1@5353"], "port": 53, "kind": "b"}]}),
        json!({"nets": ["10.0.0.0/8", "::/0", "192.0.2.1"], "names": {"a.example": ["192.0.2.1", "2001:db8::1"]}}),
        json!({"upstream": "system", "domain": "example.com.", "iface": "lo@853"}),
        json!({"upstream": "192.0.2.1@53", "domain": ".", "iface": "::1"}),
        json!({"exact": "::1!"}),
        json!({"exact": "192.0.2.1!"}),
        json!({"name": null, "nets": null, "upstream": null}),
        json!({"level": 3.0}),
    ];
    let invalid = [
        json!([]),
        json!({"workers": "many"}),
        json!({"workers": 70000}),
        json!({"name": "ABC"}),
        json!({"name": "toolongname"}),
        json!({"enabled": "yes"}),
        json!({"ratio": 1.5}),
        json!({"level": 0}),
        json!({"level": 3.5}),
        json!({"size": "100"}),
        json!({"size": "1T"}),
        json!({"timeout": "1 s"}),
        json!({"mode": "e"}),
        json!({"listen": [{}]}),
        json!({"listen": [{"interface": "localhost"}]}),
        json!({"listen": [{"interface": "127.0.0.1@0"}]}),
        json!({"listen": [{"interface": "127.0.0.1", "port": 65536}]}),
        json!({"listen": [{"interface": "127.0.0.1"}, {"interface": "::1"}, {"interface": "::2"}]}),
        json!({"nets": ["10.0.0.0/33"]}),
        json!({"nets": ["10.0.0.0/8", "10.0.0.0/8", "10.0.0.0/8", "10.0.0.0/8"]}),
        json!({"names": {"a": "192.0.2.1"}}),
        json!({"names": {"a": ["192.0.2.256"]}}),
        json!({"upstream": "systemd"}),
        json!({"domain": "a..b"}),
        json!({"domain": "-a.example"}),
        json!({"iface": "1.2.3.999"}),
        json!({"iface": "a-very-long-interface-name"}),
        json!({"exact": "::1"}),
        json!({"exact": "::1!!"}),
        json!({"exact": "10.0.0.0/8!"}),
        json!({"unknown": 1}),
        json!({"ratio": null}),
    ];
    for doc in &valid {
        assert!(verdicts(&validator, doc).0, "expected valid: {doc}: {}", verdicts(&validator, doc).2);
        assert_agree(&validator, doc);
    }
    for doc in &invalid {
        assert!(!verdicts(&validator, doc).0, "expected invalid: {doc}");
        assert_agree(&validator, doc);
    }
}

/// Scalars that are valid for some fields and invalid for others.
fn scalar() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(json!(null)),
        Just(json!(true)),
        Just(json!(false)),
        prop::sample::select(vec![0i64, 1, 2, 53, 64, 65, 255, 256, 65535, 65536, 70000, -1]).prop_map(Json::from),
        prop::sample::select(vec![0.0, 0.5, 1.0, 1.5, -0.1, 64.0, 3.25]).prop_map(Json::from),
        prop::sample::select(vec![
            "auto",
            "abc",
            "ABC",
            "toolongname",
            "",
            "100M",
            "1024K",
            "1G",
            "1T",
            "100",
            "1s",
            "500ms",
            "5m",
            "2x",
            "127.0.0.1",
            "127.0.0.1@53",
            "::1",
            "::1@53",
            "::1!",
            "192.0.2.1!",
            "1.2.3.999!",
            "10.0.0.0/8",
            "10.0.0.0/33",
            "::/0",
            "2001:db8::1",
            "192.0.2.256",
            "1:2:3:4:5:6:7:8",
            "1::2::3",
            "::ffff:1.2.3.4",
            "example.com",
            "example.com.",
            ".",
            "-bad.com",
            "a..b",
            "lo",
            "lo@853",
            "eth0@0",
            "1.2.3.999",
            "system",
            "a",
            "b",
            "c-d",
            "cd",
            "yes",
            "true",
        ])
        .prop_map(Json::from),
    ]
}

const TOP_KEYS: &[&str] = &[
    "workers", "name", "enabled", "ratio", "level", "size", "timeout", "mode", "listen", "nets", "names", "upstream",
    "domain", "iface", "exact", "bogus",
];
const LISTEN_KEYS: &[&str] = &["interface", "port", "kind", "bogus"];

fn value(keys: &'static [&'static str]) -> impl Strategy<Value = Json> {
    scalar().prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::btree_map(prop::sample::select(keys), inner, 0..4)
                .prop_map(|m| Json::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn document() -> impl Strategy<Value = Json> {
    prop::collection::btree_map(prop::sample::select(TOP_KEYS), value(LISTEN_KEYS), 0..6)
        .prop_map(|m| Json::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_documents(doc in document()) {
        let validator = validator_once();
        let (mapper_ok, schema_ok, report) = verdicts(validator, &doc);
        prop_assert_eq!(mapper_ok, schema_ok, "disagreement on {}\nmapper: {}", doc, report);
    }
}

fn validator_once() -> &'static Validator {
    static VALIDATOR: std::sync::OnceLock<Validator> = std::sync::OnceLock::new();
    VALIDATOR.get_or_init(validator)
}

/// The random documents must exercise both verdicts, or agreement would prove little.
#[test]
fn random_documents_are_a_mix_of_valid_and_invalid() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = document();
    let validator = validator_once();
    let samples = 1000;
    let valid = (0..samples)
        .filter(|_| {
            let doc = strategy.new_tree(&mut runner).expect("a document").current();
            verdicts(validator, &doc).0
        })
        .count();
    assert!((samples / 20..samples * 19 / 20).contains(&valid), "{valid} of {samples} random documents were valid");
}
