//! A small, linear-time HTML tag scanner over raw bytes.
//!
//! It is not an HTML parser: it finds start and end tags, reads their
//! attributes (quoted or not), skips comments, and takes the contents of
//! `<script>`, `<style>`, `<textarea>`, `<title>` and `<xmp>` as raw text up
//! to their end tag, which is what a browser does for those elements. Every
//! byte is looked at a bounded number of times, whatever the input (an
//! unterminated quote or comment runs to the end of the input and stops
//! there), and the collected items are capped, so a hostile page cannot make
//! it slow or make it use unbounded memory.

/// At most this many items of each kind are collected from one page.
const MAX_ITEMS: usize = 10_000;
/// Open `<div>`/`<span>` elements tracked to know whether an iframe sits in a
/// hidden container.
const MAX_OPEN: usize = 512;
/// Tag names longer than this are not elements we care about.
const MAX_TAG_NAME: usize = 16;

/// An `<iframe>` (or `<frame>`) start tag.
#[derive(Debug, Clone)]
pub(crate) struct Iframe<'a> {
    pub src: Option<&'a [u8]>,
    /// Why the frame is invisible, if it is.
    pub hidden: Option<&'static str>,
}

/// A `<form>` and what it holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Form<'a> {
    pub action: Option<&'a [u8]>,
    /// `formaction` of buttons and inputs inside the form.
    pub form_actions: Vec<&'a [u8]>,
    pub has_password: bool,
}

/// A `<script>` element.
#[derive(Debug, Clone)]
pub(crate) struct Script<'a> {
    pub src: Option<&'a [u8]>,
    /// The inline code, empty for most `src` scripts.
    pub body: &'a [u8],
    /// False for data blocks such as `application/ld+json` or templates.
    pub is_js: bool,
}

/// What the scanner collected from one page.
#[derive(Debug, Default)]
pub(crate) struct Doc<'a> {
    pub scripts: Vec<Script<'a>>,
    /// Event handler attribute values that run by themselves (`onload`,
    /// `onerror`, ...) and `javascript:` frame sources.
    pub handlers: Vec<&'a [u8]>,
    /// Handlers that run on a user's action (`onclick`, `onsubmit`, ...) and
    /// `javascript:` links.
    pub interactive: Vec<&'a [u8]>,
    pub iframes: Vec<Iframe<'a>>,
    /// `content` of `<meta http-equiv="refresh">`.
    pub refreshes: Vec<&'a [u8]>,
    pub forms: Vec<Form<'a>>,
    /// The first `<base href>`.
    pub base_href: Option<&'a [u8]>,
}

/// One attribute of a start tag; `value` is empty for a bare attribute.
struct Attr<'a> {
    name: &'a [u8],
    value: &'a [u8],
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Container {
    Div,
    Span,
}

struct Open {
    kind: Container,
    hidden: Option<&'static str>,
}

/// Scans `body` once and collects the elements the indicators look at.
pub(crate) fn scan(body: &[u8]) -> Doc<'_> {
    let mut doc = Doc::default();
    let mut open: Vec<Open> = Vec::new();
    let mut form: Option<Form<'_>> = None;
    let mut attrs: Vec<Attr<'_>> = Vec::new();
    let len = body.len();
    let mut i = 0;
    while i < len {
        let Some(lt) = find_byte(body, b'<', i) else {
            break;
        };
        let after = lt + 1;
        let rest = &body[after..];
        if rest.starts_with(b"!--") {
            i = find_sub(body, b"-->", after + 3).map_or(len, |e| e + 3);
            continue;
        }
        if rest.first() == Some(&b'!') || rest.first() == Some(&b'?') {
            // Doctype, CDATA or processing instruction: up to the next '>'.
            i = find_byte(body, b'>', after).map_or(len, |e| e + 1);
            continue;
        }
        if rest.first() == Some(&b'/') {
            let (name, end) = tag_name(body, after + 1);
            i = find_byte(body, b'>', end).map_or(len, |e| e + 1);
            match lower_name(name).as_deref() {
                Some(b"div") => close_container(&mut open, Container::Div),
                Some(b"span") => close_container(&mut open, Container::Span),
                Some(b"form") => {
                    if let Some(f) = form.take() {
                        push_capped(&mut doc.forms, f);
                    }
                }
                _ => {}
            }
            continue;
        }
        if !rest.first().is_some_and(u8::is_ascii_alphabetic) {
            i = after;
            continue;
        }
        let (name, name_end) = tag_name(body, after);
        attrs.clear();
        let tag_end = read_attrs(body, name_end, &mut attrs);
        i = tag_end;
        let Some(lname) = lower_name(name) else {
            continue;
        };
        for a in &attrs {
            if a.name.len() > 2 && a.name[..2].eq_ignore_ascii_case(b"on") {
                if !a.value.is_empty() {
                    if is_interactive_event(a.name) {
                        push_capped(&mut doc.interactive, a.value);
                    } else {
                        push_capped(&mut doc.handlers, a.value);
                    }
                }
            } else if a.name.eq_ignore_ascii_case(b"href")
                && starts_with_ci(trim(a.value), b"javascript:")
            {
                push_capped(&mut doc.interactive, &trim(a.value)[11..]);
            } else if a.name.eq_ignore_ascii_case(b"src")
                && starts_with_ci(trim(a.value), b"javascript:")
            {
                push_capped(&mut doc.handlers, &trim(a.value)[11..]);
            }
        }
        match lname.as_slice() {
            b"script" => {
                let (content, next) = raw_text(body, tag_end, b"script");
                i = next;
                let src = attr(&attrs, b"src");
                let is_js = attr(&attrs, b"type").is_none_or(is_js_type);
                push_capped(
                    &mut doc.scripts,
                    Script {
                        src,
                        body: content,
                        is_js,
                    },
                );
            }
            b"style" | b"textarea" | b"title" | b"xmp" | b"noembed" => {
                let (_, next) = raw_text(body, tag_end, &lname);
                i = next;
            }
            b"iframe" | b"frame" => {
                let hidden =
                    element_hidden(&attrs).or_else(|| open.iter().rev().find_map(|o| o.hidden));
                push_capped(
                    &mut doc.iframes,
                    Iframe {
                        src: attr(&attrs, b"src"),
                        hidden,
                    },
                );
            }
            b"div" | b"span" => {
                let kind = if lname.as_slice() == b"div" {
                    Container::Div
                } else {
                    Container::Span
                };
                let self_closing = body.get(tag_end.saturating_sub(2)) == Some(&b'/');
                if open.len() < MAX_OPEN && !self_closing {
                    open.push(Open {
                        kind,
                        hidden: style_hidden(attr(&attrs, b"style").unwrap_or_default())
                            .or_else(|| attr(&attrs, b"hidden").map(|_| "hidden attribute")),
                    });
                }
            }
            b"meta" => {
                let refresh = attr(&attrs, b"http-equiv")
                    .is_some_and(|v| trim(v).eq_ignore_ascii_case(b"refresh"));
                if refresh && let Some(c) = attr(&attrs, b"content") {
                    push_capped(&mut doc.refreshes, c);
                }
            }
            b"base" if doc.base_href.is_none() => {
                doc.base_href = attr(&attrs, b"href");
            }
            // Browsers ignore a form start tag inside an open form.
            b"form" if form.is_none() => {
                form = Some(Form {
                    action: attr(&attrs, b"action"),
                    ..Form::default()
                });
            }
            b"input" | b"button" => {
                if let Some(f) = form.as_mut() {
                    if lname.as_slice() == b"input"
                        && attr(&attrs, b"type")
                            .is_some_and(|t| trim(t).eq_ignore_ascii_case(b"password"))
                    {
                        f.has_password = true;
                    }
                    if let Some(fa) = attr(&attrs, b"formaction")
                        && f.form_actions.len() < 16
                    {
                        f.form_actions.push(fa);
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(f) = form.take() {
        push_capped(&mut doc.forms, f);
    }
    doc
}

/// Event handler attributes that only run on a user's action.
fn is_interactive_event(name: &[u8]) -> bool {
    const PREFIXES: &[&[u8]] = &[
        b"onclick",
        b"ondblclick",
        b"onauxclick",
        b"onmouse",
        b"onkey",
        b"ontouch",
        b"onpointer",
        b"onsubmit",
        b"onreset",
        b"onchange",
        b"oninput",
        b"onfocus",
        b"onblur",
        b"oncontextmenu",
        b"ondrag",
        b"ondrop",
        b"onwheel",
        b"oncopy",
        b"oncut",
        b"onpaste",
        b"onselect",
    ];
    PREFIXES.iter().any(|p| starts_with_ci(name, p))
}

fn push_capped<T>(v: &mut Vec<T>, item: T) {
    if v.len() < MAX_ITEMS {
        v.push(item);
    }
}

fn close_container(open: &mut Vec<Open>, kind: Container) {
    // Pop up to and including the innermost open element of this kind.
    if let Some(pos) = open.iter().rposition(|o| o.kind == kind) {
        open.truncate(pos);
    }
}

/// A script `type` that browsers run: empty, a JavaScript MIME type, or `module`.
fn is_js_type(t: &[u8]) -> bool {
    let t = trim(t);
    let t = t.split(|&b| b == b';').next().unwrap_or_default();
    let t = trim(t);
    t.is_empty()
        || t.eq_ignore_ascii_case(b"module")
        || t.eq_ignore_ascii_case(b"text/javascript")
        || t.eq_ignore_ascii_case(b"application/javascript")
        || t.eq_ignore_ascii_case(b"application/x-javascript")
        || t.eq_ignore_ascii_case(b"text/ecmascript")
        || t.eq_ignore_ascii_case(b"application/ecmascript")
        || t.eq_ignore_ascii_case(b"text/jscript")
        || t.eq_ignore_ascii_case(b"text/vbscript")
        || t.eq_ignore_ascii_case(b"text/x-javascript")
}

/// Why an element is invisible from its own attributes, if it is.
fn element_hidden(attrs_: &[Attr<'_>]) -> Option<&'static str> {
    if attr(attrs_, b"hidden").is_some() {
        return Some("hidden attribute");
    }
    if let Some(reason) = style_hidden(attr(attrs_, b"style").unwrap_or_default()) {
        return Some(reason);
    }
    for (name, reason) in [
        (&b"width"[..], "width <= 1"),
        (&b"height"[..], "height <= 1"),
    ] {
        if let Some(v) = attr(attrs_, name)
            && let Some(n) = css_number(trim(v))
            && n <= 1.0
        {
            return Some(reason);
        }
    }
    None
}

/// Why an inline style hides its element, if it does: `display:none`,
/// `visibility:hidden`, `opacity:0`, a width or height of at most 1px, or
/// absolute/fixed positioning far off-screen.
pub(crate) fn style_hidden(style: &[u8]) -> Option<&'static str> {
    if style.is_empty() {
        return None;
    }
    let mut positioned = false;
    let mut offscreen = false;
    for decl in style.split(|&b| b == b';').take(64) {
        let Some(colon) = decl.iter().position(|&b| b == b':') else {
            continue;
        };
        let prop = trim(&decl[..colon]);
        let mut value = trim(&decl[colon + 1..]);
        if let Some(stripped) = strip_suffix_ci(value, b"!important") {
            value = trim(stripped);
        }
        if prop.eq_ignore_ascii_case(b"display") && value.eq_ignore_ascii_case(b"none") {
            return Some("display:none");
        }
        if prop.eq_ignore_ascii_case(b"visibility")
            && (value.eq_ignore_ascii_case(b"hidden") || value.eq_ignore_ascii_case(b"collapse"))
        {
            return Some("visibility:hidden");
        }
        if prop.eq_ignore_ascii_case(b"opacity") && css_number(value) == Some(0.0) {
            return Some("opacity:0");
        }
        if (prop.eq_ignore_ascii_case(b"width") || prop.eq_ignore_ascii_case(b"height"))
            && css_number(value).is_some_and(|n| n <= 1.0)
        {
            return Some(if prop.eq_ignore_ascii_case(b"width") {
                "width <= 1"
            } else {
                "height <= 1"
            });
        }
        if prop.eq_ignore_ascii_case(b"position")
            && (value.eq_ignore_ascii_case(b"absolute") || value.eq_ignore_ascii_case(b"fixed"))
        {
            positioned = true;
        }
        if (prop.eq_ignore_ascii_case(b"left") || prop.eq_ignore_ascii_case(b"top"))
            && css_number(value).is_some_and(|n| n <= -500.0)
        {
            offscreen = true;
        }
    }
    (positioned && offscreen).then_some("positioned off-screen")
}

/// A CSS or HTML length in px (or unitless): `0`, `1px`, `-9999px`, `0.0`.
/// Other units and percentages are not lengths we judge.
fn css_number(v: &[u8]) -> Option<f64> {
    let v = strip_suffix_ci(v, b"px").unwrap_or(v);
    if v.is_empty() || v.len() > 24 {
        return None;
    }
    std::str::from_utf8(v).ok()?.trim().parse::<f64>().ok()
}

/// The value of the first attribute named `name` (ASCII case-insensitive).
fn attr<'a>(attrs_: &[Attr<'a>], name: &[u8]) -> Option<&'a [u8]> {
    attrs_
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .map(|a| a.value)
}

/// Lower-cased tag name, or None when it is too long to be one we know.
fn lower_name(name: &[u8]) -> Option<Vec<u8>> {
    (!name.is_empty() && name.len() <= MAX_TAG_NAME).then(|| name.to_ascii_lowercase())
}

/// Reads a tag name starting at `start`; returns it and the index after it.
fn tag_name(body: &[u8], start: usize) -> (&[u8], usize) {
    let mut end = start;
    while end < body.len()
        && !body[end].is_ascii_whitespace()
        && body[end] != b'>'
        && body[end] != b'/'
    {
        end += 1;
    }
    (&body[start..end], end)
}

/// Reads attributes from `start` up to the closing `>`; returns the index
/// after the `>` (or the input's length).
fn read_attrs<'a>(body: &'a [u8], start: usize, out: &mut Vec<Attr<'a>>) -> usize {
    let len = body.len();
    let mut i = start;
    loop {
        while i < len && (body[i].is_ascii_whitespace() || body[i] == b'/') {
            i += 1;
        }
        if i >= len {
            return len;
        }
        if body[i] == b'>' {
            return i + 1;
        }
        let name_start = i;
        // An attribute name may start with '=' per the HTML spec; take it.
        i += 1;
        while i < len && !body[i].is_ascii_whitespace() && !matches!(body[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = &body[name_start..i];
        let mut j = i;
        while j < len && body[j].is_ascii_whitespace() {
            j += 1;
        }
        let mut value: &[u8] = &[];
        if j < len && body[j] == b'=' {
            j += 1;
            while j < len && body[j].is_ascii_whitespace() {
                j += 1;
            }
            if j < len && (body[j] == b'"' || body[j] == b'\'') {
                let q = body[j];
                let vstart = j + 1;
                let vend = find_byte(body, q, vstart).unwrap_or(len);
                value = &body[vstart..vend];
                i = (vend + 1).min(len);
            } else {
                let vstart = j;
                while j < len && !body[j].is_ascii_whitespace() && body[j] != b'>' {
                    j += 1;
                }
                value = &body[vstart..j];
                i = j;
            }
        }
        if out.len() < 64 {
            out.push(Attr { name, value });
        }
    }
}

/// The raw text of an element such as `<script>` from `start` up to its end
/// tag (`</name`, any case), and the index after that end tag.
fn raw_text<'a>(body: &'a [u8], start: usize, name: &[u8]) -> (&'a [u8], usize) {
    let len = body.len();
    let mut i = start;
    while let Some(p) = find_sub(body, b"</", i) {
        let n = p + 2;
        if body
            .get(n..n + name.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(name))
            && body
                .get(n + name.len())
                .is_none_or(|&b| b.is_ascii_whitespace() || b == b'>' || b == b'/')
        {
            let next = find_byte(body, b'>', n + name.len()).map_or(len, |e| e + 1);
            return (&body[start..p], next);
        }
        i = n;
    }
    (&body[start.min(len)..], len)
}

pub(crate) fn find_byte(hay: &[u8], needle: u8, from: usize) -> Option<usize> {
    hay.get(from..)?
        .iter()
        .position(|&b| b == needle)
        .map(|p| p + from)
}

/// First occurrence of `needle` (at least one byte) in `hay` at or after `from`.
pub(crate) fn find_sub(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let (&first, tail) = needle.split_first()?;
    let mut i = from;
    while let Some(p) = find_byte(hay, first, i) {
        if hay.get(p + 1..p + 1 + tail.len()) == Some(tail) {
            return Some(p);
        }
        i = p + 1;
    }
    None
}

pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

pub(crate) fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn strip_suffix_ci<'a>(s: &'a [u8], suffix: &[u8]) -> Option<&'a [u8]> {
    let cut = s.len().checked_sub(suffix.len())?;
    s[cut..].eq_ignore_ascii_case(suffix).then(|| &s[..cut])
}

/// Decodes the few character references that matter in URLs (`&amp;` and
/// friends) and returns the text, lossily, as UTF-8.
pub(crate) fn attr_text(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(trim(v));
    if !s.contains('&') {
        return s.into_owned();
    }
    s.replace("&amp;", "&")
        .replace("&#38;", "&")
        .replace("&quot;", "\"")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&colon;", ":")
        .replace("&#58;", ":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_scripts_iframes_forms_and_refreshes() {
        let html = br#"<!doctype html><html><head>
<meta http-equiv="Refresh" content="0; url=https://x.example/">
<script src="/a.js"></script><script type="application/ld+json">{"a":1}</script>
<SCRIPT>var a = "</scr" + "ipt>"; if (a < b) {}</SCRIPT >
<!-- <iframe src="https://commented.example/"> -->
</head><body onload="init()">
<div style="position: absolute; left: -9999px"><span><iframe src="https://a.example/"></iframe></span></div>
<iframe src=https://b.example/ width=100 height=80></iframe>
<form action="https://c.example/login"><input type=text name=u><input TYPE="Password" name=p></form>
<a href="javascript:alert(1)">x</a>
</body></html>"#;
        let doc = scan(html);
        assert_eq!(doc.scripts.len(), 3);
        assert_eq!(doc.scripts[0].src, Some(&b"/a.js"[..]));
        assert!(!doc.scripts[1].is_js);
        assert!(doc.scripts[2].body.starts_with(b"var a"));
        assert_eq!(doc.refreshes, vec![&b"0; url=https://x.example/"[..]]);
        assert_eq!(doc.iframes.len(), 2);
        assert_eq!(doc.iframes[0].hidden, Some("positioned off-screen"));
        assert_eq!(doc.iframes[1].hidden, None);
        assert_eq!(doc.forms.len(), 1);
        assert!(doc.forms[0].has_password);
        assert_eq!(doc.handlers, vec![&b"init()"[..]]);
        assert_eq!(doc.interactive, vec![&b"alert(1)"[..]]);
    }

    #[test]
    fn hidden_styles() {
        assert_eq!(style_hidden(b"display:none"), Some("display:none"));
        assert_eq!(
            style_hidden(b"border:0; VISIBILITY : hidden !important"),
            Some("visibility:hidden")
        );
        assert_eq!(style_hidden(b"width:1px;height:1px"), Some("width <= 1"));
        assert_eq!(style_hidden(b"width:100px;height:10px"), None);
        assert_eq!(
            style_hidden(b"position:absolute;top:-1000px"),
            Some("positioned off-screen")
        );
        assert_eq!(style_hidden(b"top:-1000px"), None);
        assert_eq!(style_hidden(b"opacity:0.5"), None);
    }

    #[test]
    fn unterminated_constructs_end_at_the_input_end() {
        for html in [
            &b"<div a=\"x"[..],
            b"<!-- x",
            b"<script>x",
            b"<",
            b"</",
            b"<a",
            b"<form><input type=password",
        ] {
            let doc = scan(html);
            assert!(doc.iframes.is_empty());
        }
        assert!(scan(b"<form><input type=password").forms[0].has_password);
    }
}
