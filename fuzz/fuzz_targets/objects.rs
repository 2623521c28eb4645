//! YAML and JSON loading: `objects::parse_str` on arbitrary UTF-8 text.
//!
//! Besides "no panic, no stack overflow, no hang", it checks that every loaded document is an
//! object, that its JSON form loads back to the same value (JSON is YAML 1.2, read by the same
//! parser), and that position lookups of its own paths stay inside the text.
#![no_main]

use backendtls_webhook::objects::parse_str;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Position lookups checked per document (each builds a path and looks it up).
const PATHS_CHECKED: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(documents) = parse_str("fuzz", text) else {
        return;
    };
    // Line breaks as YAML counts them: `\n`, `\r\n` and a lone `\r`. A position may be one
    // line past the last (an empty value at the very end of text without a final line break).
    let breaks =
        text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count();
    let lines = breaks + 2;
    for document in &documents {
        assert!(document.value.is_object(), "{:?}", document.value);
        for entry in document.positions.iter().take(PATHS_CHECKED) {
            for (line, column) in [entry.value, entry.key].into_iter().flatten() {
                assert!(line >= 1 && line <= lines && column >= 1, "{entry:?}");
            }
            let (line, _) = document.positions.nearest(&entry.path);
            assert!(line >= 1 && line <= lines, "{entry:?}");
        }
        let is_list = document.value["kind"] == "List" && document.value["apiVersion"] == "v1";
        if is_list {
            continue;
        }
        let json = serde_json::to_string(&document.value).expect("serialises");
        match parse_str("round-trip", &json) {
            Ok(again) => {
                let values: Vec<&Value> = again.iter().map(|d| &d.value).collect();
                assert_eq!(
                    values,
                    [&document.value],
                    "JSON form of {text:?} loads differently"
                );
            }
            Err(error) => panic!("JSON form {json:?} of {text:?} does not load: {error}"),
        }
    }
});
