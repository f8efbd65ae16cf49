//! Errors as words a person can act on: libraries wrap the real cause in
//! layers ("error sending request", "dispatch failure"); these helpers show
//! each layer once, or only the root cause.

use std::error::Error;

/// Every distinct message along the `source()` chain, outermost first.
pub fn chain(e: &(dyn Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.iter().any(|t| t.contains(&text)) {
            out.push(text);
        }
        source = s.source();
    }
    out
}

/// The whole chain on one line.
pub fn full(e: &(dyn Error + 'static)) -> String {
    chain(e).join(": ")
}

/// The innermost message: usually the one that says what went wrong.
pub fn root_cause(e: &(dyn Error + 'static)) -> String {
    chain(e).pop().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    #[test]
    fn repeated_layers_are_shown_once() {
        let e = Layer(
            "dispatch failure: connection refused",
            Some(Box::new(Layer(
                "connection refused",
                Some(Box::new(Layer("os error 111", None))),
            ))),
        );
        assert_eq!(
            full(&e),
            "dispatch failure: connection refused: os error 111"
        );
        assert_eq!(root_cause(&e), "os error 111");
    }
}
