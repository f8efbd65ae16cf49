//! Generator of the benign framework bundle fixture
//! (`scraper/tests/fixtures/benign-bundle.js`).
//!
//! The bundle imitates a production React/webpack build (about 220 KiB):
//! webpack runtime, `Function.prototype` and `new Function("return this")`
//! global detection, an `atob`/`btoa` polyfill, a JWT decoder
//! (`decodeURIComponent(atob(...))` into `JSON.parse`), `String.fromCharCode`
//! in a UTF-8 decoder, CSS-in-JS with `data:image/svg+xml` and `data:font/woff2`
//! base64 URIs, a base64 WebAssembly module, router redirects to relative or
//! computed URLs, and a base64 `sourceMappingURL` comment: everything that
//! fools naive detectors, and no decode-and-run chain.
//!
//! The test `benign_bundle_fixture_is_current` checks the committed file
//! against this generator; run the ignored test `regenerate_benign_bundle`
//! (`cargo test -p trawl-scraper --lib analysis -- --ignored regenerate`)
//! after changing it.

/// Deterministic xorshift64 generator.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(super) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

pub(super) fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

const RUNTIME: &str = r##"/*! For license information please see main.7f3a9c21.js.LICENSE.txt */
(()=>{"use strict";var e,t,n,r,o={},a={};function i(e){var t=a[e];if(void 0!==t)return t.exports;var n=a[e]={id:e,loaded:!1,exports:{}};return o[e].call(n.exports,n,n.exports,i),n.loaded=!0,n.exports}i.m=o,e=[],i.O=(t,n,r,o)=>{if(!n){var a=1/0;for(s=0;s<e.length;s++){for(var[n,r,o]=e[s],l=!0,u=0;u<n.length;u++)(!1&o||a>=o)&&Object.keys(i.O).every((e=>i.O[e](n[u])))?n.splice(u--,1):(l=!1,o<a&&(a=o));if(l){e.splice(s--,1);var c=r();void 0!==c&&(t=c)}}return t}o=o||0;for(var s=e.length;s>0&&e[s-1][2]>o;s--)e[s]=e[s-1];e[s]=[n,r,o]},i.n=e=>{var t=e&&e.__esModule?()=>e.default:()=>e;return i.d(t,{a:t}),t},i.d=(e,t)=>{for(var n in t)i.o(t,n)&&!i.o(e,n)&&Object.defineProperty(e,n,{enumerable:!0,get:t[n]})},i.g=function(){if("object"==typeof globalThis)return globalThis;try{return this||new Function("return this")()}catch(e){if("object"==typeof window)return window}}(),i.o=(e,t)=>Object.prototype.hasOwnProperty.call(e,t),i.r=e=>{"undefined"!=typeof Symbol&&Symbol.toStringTag&&Object.defineProperty(e,Symbol.toStringTag,{value:"Module"}),Object.defineProperty(e,"__esModule",{value:!0})},i.p="/static/",(()=>{var e={792:0};i.O.j=t=>0===e[t];var t=(t,n)=>{var r,o,[a,l,u]=n,c=0;if(a.some((t=>0!==e[t]))){for(r in l)i.o(l,r)&&(i.m[r]=l[r]);if(u)var s=u(i)}for(t&&t(n);c<a.length;c++)o=a[c],i.o(e,o)&&e[o]&&e[o][0](),e[o]=0;return i.O(s)},n=self.webpackChunkshop_web=self.webpackChunkshop_web||[];n.forEach(t.bind(null,0)),n.push=t.bind(null,n.push.bind(n))})()})();
var Ct=Function.prototype.toString,Pt=Object.prototype.hasOwnProperty,Rt=Function.prototype.bind,It=Ct.call(Object);function Dt(e){if(!e||"object"!=typeof e)return!1;var t=Object.getPrototypeOf(e);if(null===t)return!0;var n=Pt.call(t,"constructor")&&t.constructor;return"function"==typeof n&&n instanceof n&&Ct.call(n)==It}
var Lt="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",atob=i.g.atob||function(e){var t=String(e).replace(/[=]+$/,"");if(t.length%4==1)throw new Error("'atob' failed: The string to be decoded is not correctly encoded.");for(var n,r,o=0,a=0,l="";r=t.charAt(a++);~r&&(n=o%4?64*n+r:r,o++%4)?l+=String.fromCharCode(255&n>>(-2*o&6)):0)r=Lt.indexOf(r);return l},btoa=i.g.btoa||function(e){for(var t,n,r=String(e),o=0,a=Lt,l="";r.charAt(0|o)||(a="=",o%1);l+=a.charAt(63&t>>8-o%1*8)){if((n=r.charCodeAt(o+=.75))>255)throw new Error("'btoa' failed: The string to be encoded contains characters outside of the Latin1 range.");t=t<<8|n}return l};
function Mt(e){try{var t=e.split(".")[1].replace(/-/g,"+").replace(/_/g,"/");return JSON.parse(decodeURIComponent(atob(t).split("").map((function(e){return"%"+("00"+e.charCodeAt(0).toString(16)).slice(-2)})).join("")))}catch(e){return null}}
function Ft(e){for(var t="",n=0;n<e.length;){var r=e[n++];if(r<128)t+=String.fromCharCode(r);else if(r>191&&r<224)t+=String.fromCharCode((31&r)<<6|63&e[n++]);else{var o=e[n++],a=e[n++];t+=String.fromCharCode((15&r)<<12|(63&o)<<6|63&a)}}return t}
var Ut=function(){try{return new Function(""),!0}catch(e){return!1}}(),zt="undefined"!=typeof eval&&Ut;
function h(e){for(var t="https://reactjs.org/docs/error-decoder.html?invariant="+e,n=1;n<arguments.length;n++)t+="&args[]="+encodeURIComponent(arguments[n]);return"Minified React error #"+e+"; visit "+t+" for the full message or use the non-minified dev environment for full errors and additional helpful warnings."}
"##;

/// Module bodies; `@N` is replaced by a module id, `@X`/`@Y` by generated
/// identifiers, `@S` by a generated word.
const MODULES: &[&str] = &[
    r##"@N:(e,t,n)=>{"use strict";var r=n(7294),o=n(5697),a=n.n(o);function @X(e,t,n){this.props=e,this.context=t,this.refs=@Y,this.updater=n||Ge}@X.prototype.isReactComponent={},@X.prototype.setState=function(e,t){if("object"!=typeof e&&"function"!=typeof e&&null!=e)throw Error(h(85));this.updater.enqueueSetState(this,e,t,"setState")},@X.prototype.forceUpdate=function(e){this.updater.enqueueForceUpdate(this,e,"forceUpdate")};function @Y(){}@Y.prototype=@X.prototype;var Qe=Array.isArray,Ke=Object.prototype.hasOwnProperty,Je={current:null},Ze={key:!0,ref:!0,__self:!0,__source:!0};function et(e,t,n){var r,o={},a=null,i=null;if(null!=t)for(r in void 0!==t.ref&&(i=t.ref),void 0!==t.key&&(a=""+t.key),t)Ke.call(t,r)&&!Ze.hasOwnProperty(r)&&(o[r]=t[r]);var l=arguments.length-2;if(1===l)o.children=n;else if(1<l){for(var u=Array(l),c=0;c<l;c++)u[c]=arguments[c+2];o.children=u}if(e&&e.defaultProps)for(r in l=e.defaultProps)void 0===o[r]&&(o[r]=l[r]);return{$$typeof:Symbol.for("react.element"),type:e,key:a,ref:i,props:o,_owner:Je.current}}t.createElement=et,t.Component=@X},"##,
    r##"@N:(e,t,n)=>{"use strict";n.d(t,{Z:()=>@X});var r=n(7294),o=n(5893);const a=r.createContext(null);function @X(e){let{children:t,initialPath:n="/@S"}=e;const[i,l]=(0,r.useState)(n),u=(0,r.useCallback)((e=>{if(/^https?:\/\//.test(e))return void(window.location.href=e);window.history.pushState({},"",e),l(e)}),[]);return(0,r.useEffect)((()=>{const e=()=>l(window.location.pathname);return window.addEventListener("popstate",e),()=>window.removeEventListener("popstate",e)}),[]),(0,o.jsx)(a.Provider,{value:{path:i,navigate:u},children:t})}function @Y(e){e.status===401&&(window.location.href="/account/login?next="+encodeURIComponent(window.location.pathname+window.location.search))}},"##,
    r##"@N:(e,t,n)=>{"use strict";n.d(t,{A:()=>@X});var r=n(4942),o=n(7294);const a={@S:"Willkommen",greeting:"Hello, {name}!",cart_empty:"Your cart is empty.",checkout:"Proceed to checkout",total:"Total: {amount}",remove:"Remove",quantity:"Quantity",shipping_free:"Free shipping on orders over {amount}",newsletter:"Sign up for our newsletter and get 10% off your first order.",privacy:"We use cookies to improve your experience. By continuing you agree to our use of cookies.",search_placeholder:"Search products, brands and categories",no_results:"No results for \u201c{query}\u201d"};function @X(e,t){let n=a[e]||e;return t&&Object.keys(t).forEach((e=>{n=n.replace(new RegExp("\\{"+e+"\\}","g"),String(t[e]))})),n}function @Y(e,t){return new Intl.NumberFormat(t||"en-US",{style:"currency",currency:e.currency}).format(e.value/100)}},"##,
    r##"@N:(e,t,n)=>{"use strict";n.d(t,{F:()=>@X});var r=n(2791);async function @X(e,t){const n=await fetch("/api/@S/"+encodeURIComponent(e),{method:"POST",credentials:"same-origin",headers:{"Content-Type":"application/json","X-CSRF-Token":document.querySelector('meta[name="csrf-token"]').getAttribute("content")},body:JSON.stringify(t)});if(!n.ok){const e=await n.text();throw new Error("Request failed: "+n.status+" "+e.slice(0,200))}return n.json()}function @Y(e){return new Promise((t=>setTimeout(t,e)))}const o=Mt(window.localStorage.getItem("session")||"");o&&o.exp<Date.now()/1e3&&window.localStorage.removeItem("session")},"##,
    r##"@N:(e,t,n)=>{"use strict";n.d(t,{u:()=>@X,s:()=>@Y});var r=n(1413),o=n(5987);const a=["className","variant","size","disabled","children"];function @X(e){let{className:t,variant:n="primary",size:i="md",disabled:l,children:u}=e,c=(0,o.Z)(e,a);return(0,r.jsx)("button",(0,r.Z)((0,r.Z)({type:"button",className:["btn","btn-"+n,"btn-"+i,t].filter(Boolean).join(" "),disabled:l,"aria-disabled":l},c),{},{children:u}))}function @Y(e){const t=e.getBoundingClientRect();return t.top>=0&&t.left>=0&&t.bottom<=(window.innerHeight||document.documentElement.clientHeight)&&t.right<=(window.innerWidth||document.documentElement.clientWidth)}},"##,
    r##"@N:(e,t,n)=>{"use strict";function @X(e){for(var t=Object.keys(e),n=0;n<t.length;n++){var r=e[t[n]];"object"==typeof r&&null!==r&&!Object.isFrozen(r)&&@X(r)}return Object.freeze(e)}function @Y(e,t){var n=e.length;e.push(t);e:for(;0<n;){var r=n-1>>>1,o=e[r];if(!(0<i(o,t)))break e;e[r]=t,e[n]=o,n=r}}function i(e,t){var n=e.sortIndex-t.sortIndex;return 0!==n?n:e.id-t.id}var l="object"==typeof performance&&"function"==typeof performance.now?function(){return performance.now()}:function(){return Date.now()},u=[],c=[],s=1,f=null,d=3,p=!1,m=!1,g=!1,@S="function"==typeof setTimeout?setTimeout:null,y="function"==typeof clearTimeout?clearTimeout:null,b="undefined"!=typeof setImmediate?setImmediate:null;function w(e){for(var t=a(c);null!==t;){if(null===t.callback)o(c);else{if(!(t.startTime<=e))break;o(c),t.sortIndex=t.expirationTime,@Y(u,t)}t=a(c)}}},"##,
    r##"@N:(e,t,n)=>{"use strict";n.d(t,{Z:()=>@X});const r=".@S-icon{display:inline-block;width:1em;height:1em;background:url(data:image/svg+xml;base64,@SVG) no-repeat center/contain}.@S-spinner{animation:@S-spin 1s linear infinite}@keyframes @S-spin{to{transform:rotate(360deg)}}.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);border:0}";function @X(){if(!document.getElementById("@S-styles")){var e=document.createElement("style");e.id="@S-styles",e.textContent=r,document.head.appendChild(e)}}function @Y(e){var t=document.createElement("script");t.src=e,t.async=!0,t.crossOrigin="anonymous",document.head.appendChild(t)}},"##,
    r##"@N:(e,t,n)=>{"use strict";n.d(t,{Z:()=>@X});var r=n(7294);const o={en:{months:["January","February","March","April","May","June","July","August","September","October","November","December"],days:["Sun","Mon","Tue","Wed","Thu","Fri","Sat"]},de:{months:["Januar","Februar","M\u00e4rz","April","Mai","Juni","Juli","August","September","Oktober","November","Dezember"],days:["So","Mo","Di","Mi","Do","Fr","Sa"]}};function @X(e,t){var n=o[t]||o.en,r=new Date(e);return n.days[r.getDay()]+", "+r.getDate()+" "+n.months[r.getMonth()]+" "+r.getFullYear()}function @Y(e){return e.replace(/[&<>"']/g,(function(e){return{"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[e]}))}var @S=function(e){var t=e.match(/^(\d+)(ms|s|m|h)$/);if(!t)throw new TypeError("Invalid duration: "+e);return+t[1]*{ms:1,s:1e3,m:6e4,h:36e5}[t[2]]}},"##,
];

/// The font face module, emitted once: a large `data:font/woff2` URI.
const FONT_MODULE: &str = r##"9133:(e,t,n)=>{"use strict";const r="@font-face{font-family:'Shop Icons';font-style:normal;font-weight:400;font-display:block;src:url(data:font/woff2;charset=utf-8;base64,@FONT) format('woff2')}";document.head.insertAdjacentHTML("beforeend","<style>"+r+"</style>")},"##;

/// Emitted once: a WebAssembly module inlined as base64 (an image codec) and
/// a PNG placeholder image in a string literal.
const WASM_MODULE: &str = r##"4410:(e,t,n)=>{"use strict";n.d(t,{decode:()=>a});const r="@WASM",o="data:image/png;base64,@PNG";let i=null;async function a(e){if(!i){const e=Uint8Array.from(atob(r),(e=>e.charCodeAt(0)));i=(await WebAssembly.instantiate(e,{})).instance.exports}return i.decode(e)}t.placeholder=o},"##;

const WORDS: &[&str] = &[
    "cart", "product", "search", "account", "wishlist", "checkout", "header", "footer", "menu",
    "review", "rating", "gallery", "filter", "banner", "toast", "modal", "tooltip", "tabs",
];

fn ident(rng: &mut Rng) -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut s = String::new();
    s.push(A[rng.below(A.len())] as char);
    s.push(A[rng.below(A.len())] as char);
    s.push(A[rng.below(A.len())] as char);
    s
}

/// The benign bundle (deterministic).
pub(super) fn benign_bundle() -> String {
    let mut rng = Rng::new(0x7a11_b0d1);
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 24 24\">{}</svg>",
        (0..30)
            .map(|i| format!(
                "<path fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\" d=\"M{} {}l{} {}\"/>",
                i % 24,
                (i * 7) % 24,
                (i * 3) % 9,
                (i * 5) % 11
            ))
            .collect::<String>()
    );
    let svg64 = base64(svg.as_bytes());
    let mut font = b"wOF2\x00\x01\x00\x00".to_vec();
    font.extend(rng.bytes(3000));
    let mut wasm = b"\x00asm\x01\x00\x00\x00".to_vec();
    wasm.extend(rng.bytes(6000));
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(rng.bytes(1500));

    let mut out = String::from(
        "\"use strict\";(self.webpackChunkshop_web=self.webpackChunkshop_web||[]).push([[179],{",
    );
    out.insert_str(0, RUNTIME);
    out.push_str(&FONT_MODULE.replace("@FONT", &base64(&font)));
    out.push_str(
        &WASM_MODULE
            .replace("@WASM", &base64(&wasm))
            .replace("@PNG", &base64(&png)),
    );
    let mut id = 1000;
    while out.len() < 220 * 1024 {
        let template = MODULES[rng.below(MODULES.len())];
        id += 1 + rng.below(97);
        let module = template
            .replace("@N", &id.to_string())
            .replace("@X", &ident(&mut rng))
            .replace("@Y", &ident(&mut rng))
            .replace("@SVG", &svg64)
            .replace("@S", WORDS[rng.below(WORDS.len())]);
        out.push_str(&module);
    }
    out.push_str("}]);\n");
    let map = format!(
        "{{\"version\":3,\"file\":\"static/js/main.7f3a9c21.js\",\"mappings\":\"{}\",\"sources\":[{}],\"names\":[]}}",
        (0..900)
            .map(|i| ["AAAA", "CAAC", "GAAG", "IACA", "EAAE"][i % 5])
            .collect::<Vec<_>>()
            .join(";"),
        WORDS
            .iter()
            .map(|w| format!("\"webpack://shop-web/./src/components/{w}.jsx\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    out.push_str("//# sourceMappingURL=data:application/json;charset=utf-8;base64,");
    out.push_str(&base64(map.as_bytes()));
    out.push('\n');
    out
}
