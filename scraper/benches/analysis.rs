//! Analysis throughput on a 5 MiB HTML page with the default rules.
//!
//! The page repeats realistic benign content (the analytics page fixture,
//! the framework bundle fixture inline, article markup with forms, images
//! and links) with a few indicators sprinkled in (hidden iframe, eval chain,
//! miner script, meta refresh, base64 blob), so every indicator and YARA rule
//! does its real work. Run:
//! `cargo bench -p trawl-scraper --bench analysis -- --warm-up-time 1 --measurement-time 5`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use trawl_scraper::analysis::{Analyzer, Page};

const PAGE_BYTES: usize = 5 * 1024 * 1024;

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn article(i: usize) -> String {
    format!(
        r#"<article class="post" id="post-{i}">
<h2><a href="/blog/{i}/spring-planting-guide">Spring planting guide, part {i}</a></h2>
<div class="meta"><span class="author">By Jane Doe</span> &middot; <time datetime="2024-03-{d:02}">March {d}, 2024</time></div>
<img src="/img/posts/{i}.jpg" srcset="/img/posts/{i}@2x.jpg 2x" alt="Seedlings on a windowsill" width="800" height="450" loading="lazy">
<p>Start tomatoes, peppers and aubergines indoors six to eight weeks before the last frost. Use a
free-draining seed compost, sow thinly and keep the trays somewhere warm and bright.</p>
<p>Harden plants off for a week before planting out: put them outside during the day and bring them in
at night. <a href="https://www.rhs.example/advice/hardening-off" rel="noopener">More advice</a>.</p>
<table class="schedule"><tr><th>Crop</th><th>Sow</th><th>Plant out</th></tr>
<tr><td>Tomato</td><td>March</td><td>May</td></tr><tr><td>Courgette</td><td>April</td><td>June</td></tr></table>
<form class="comment" action="/blog/{i}/comments" method="post"><input type="hidden" name="csrf" value="b7f{i}a">
<textarea name="body" placeholder="Leave a comment"></textarea><button type="submit" onclick="track('comment', {i})">Post</button></form>
<div class="share" style="display:flex;gap:8px"><a href="https://twitter.example/share?u=/blog/{i}">Share</a></div>
</article>
"#,
        d = i % 28 + 1
    )
}

fn build_page() -> Vec<u8> {
    let analytics = fixture("benign-analytics.html");
    let bundle = fixture("benign-bundle.js");
    let mut page = Vec::with_capacity(PAGE_BYTES + 256 * 1024);
    page.extend_from_slice(&analytics[..analytics.len() - "</body>\n</html>\n".len()]);
    page.extend_from_slice(
        br#"<meta http-equiv="refresh" content="30;url=https://ads.evil.example/r">"#,
    );
    let mut i = 0;
    while page.len() < PAGE_BYTES {
        i += 1;
        for _ in 0..20 {
            page.extend_from_slice(article(i).as_bytes());
            i += 1;
        }
        // A quarter of a bundle inline, as server-rendered pages do.
        let q = bundle.len() / 4;
        let part = &bundle[(i % 4) * q..(i % 4 + 1) * q];
        page.extend_from_slice(b"<script>");
        page.extend_from_slice(part);
        page.extend_from_slice(b"</script>\n");
        if i % 7 == 0 {
            page.extend_from_slice(
                br#"<div style="position:absolute;left:-5000px"><iframe src="https://tds.evil.example/in?x"></iframe></div>"#,
            );
            page.extend_from_slice(br#"<script>eval(atob(window._p));</script>"#);
        }
    }
    page.extend_from_slice(br#"<script src="https://coinhive.com/lib/coinhive.min.js"></script>"#);
    page.extend_from_slice(b"</body></html>\n");
    page
}

fn bench(c: &mut Criterion) {
    let analyzer = Analyzer::new(&[]).expect("default rules");
    let page = build_page();
    let url = url::Url::parse("https://www.greenthumb.example/blog/").unwrap();
    let p = Page {
        url: &url,
        content_type: Some("text/html; charset=utf-8"),
        body: &page,
    };
    let first = analyzer.analyze(&p);
    eprintln!(
        "page {} bytes: verdict {:?}, score {}, findings {:?}",
        page.len(),
        first.verdict,
        first.score,
        first.findings.iter().map(|f| &f.rule).collect::<Vec<_>>()
    );
    let mut g = c.benchmark_group("analysis");
    g.throughput(Throughput::Bytes(page.len() as u64));
    g.sample_size(20);
    g.bench_function("html_5mib_default_rules", |b| {
        b.iter(|| analyzer.analyze(black_box(&p)))
    });
    g.finish();

    // Hostile shapes must stay linear: each is timed on its own 5 MiB body.
    let mut g = c.benchmark_group("adversarial");
    g.sample_size(10);
    for (name, body) in adversarial() {
        g.throughput(Throughput::Bytes(body.len() as u64));
        let p = Page {
            url: &url,
            content_type: Some("text/html"),
            body: &body,
        };
        g.bench_function(name, |b| b.iter(|| analyzer.analyze(black_box(&p))));
    }
    g.finish();
}

fn repeat_to(unit: &str) -> Vec<u8> {
    unit.repeat(PAGE_BYTES / unit.len() + 1).into_bytes()
}

fn adversarial() -> Vec<(&'static str, Vec<u8>)> {
    let mut blobs = String::from("<script>");
    while blobs.len() < PAGE_BYTES {
        blobs.push('"');
        blobs.push_str(&"aB3+".repeat(300));
    }
    vec![
        ("lt", repeat_to("<")),
        (
            "attributes",
            format!("<a {}", "x=1 ".repeat(PAGE_BYTES / 4)).into_bytes(),
        ),
        (
            "script_end_tags",
            format!("<script>{}", "</scrip".repeat(PAGE_BYTES / 7)).into_bytes(),
        ),
        (
            "iframes",
            repeat_to("<iframe src=https://a.evil.example/ width=0>"),
        ),
        (
            "eval_chains",
            format!("<script>{}", "eval(atob(x));".repeat(PAGE_BYTES / 14)).into_bytes(),
        ),
        ("base64_runs", blobs.into_bytes()),
        (
            "obfuscated_ids",
            format!("<script>{}", "_0x1a2b+".repeat(PAGE_BYTES / 8)).into_bytes(),
        ),
        (
            "yara_atoms",
            repeat_to("new Image() cvv cc_number btoa( document.write(unescape(' <?php "),
        ),
    ]
}

/// Start-up cost every worker pays: compiling the default rules.
fn bench_compile(c: &mut Criterion) {
    c.bench_function("compile_default_rules", |b| {
        b.iter(|| Analyzer::new(black_box(&[])).expect("default rules compile"))
    });
}

criterion_group!(benches, bench, bench_compile);
criterion_main!(benches);
