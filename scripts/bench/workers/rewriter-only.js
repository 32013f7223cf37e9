// Baseline for the page benchmark: the same three slot changes Tailor makes for the benchmark
// visitor, applied by HTMLRewriter with no visitor state, rules or models.
const HERO =
  '<h1>Still thinking about new tech?</h1><p>Headphones, monitors and smart speakers: up to 20% off electronics this week, with free next-day delivery.</p><a class="cta" href="/c/electronics">Shop electronics</a>';
const BANNER = "<p><strong>Your basket is waiting.</strong> Complete your order today and delivery is free.</p>";
const CARD =
  '<article class="card" data-product-id="el-0N" data-category="electronics" data-price="99.99"><a href="/p/el-0N"><h3>Product N</h3></a><p class="price">€99.99</p><p class="blurb">Picked for you</p></article>';
const RECOMMENDATIONS = Array.from({ length: 8 }, (_, index) => CARD.replaceAll("N", String(index + 2))).join("");

class Slot {
  constructor(html) {
    this.html = html;
  }
  element(element) {
    element.setAttribute("data-p13n-rule", "static");
    element.setInnerContent(this.html, { html: true });
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const origin = await fetch(new URL(url.pathname + url.search, env.ORIGIN_URL), { headers: request.headers });
    const rewritten = new HTMLRewriter()
      .on('[data-slot="hero"]', new Slot(HERO))
      .on('[data-slot="banner"]', new Slot(BANNER))
      .on('[data-slot="recommendations"]', new Slot(RECOMMENDATIONS))
      .transform(origin);
    const response = new Response(rewritten.body, origin);
    response.headers.set("cache-control", "private, no-cache");
    return response;
  },
};
