/**
 * Server-side rendering of the demo shop's pages. The markup is what a real retailer's origin
 * might send: a full document with inline critical CSS, navigation, product grids and a footer,
 * plus the slots Tailor personalizes (`data-slot="hero" | "banner" | "recommendations"`) and the
 * data attributes the tracker reads (`data-product-id`, `data-category`, `data-price`).
 * @module
 */
import { CATEGORIES, type Category, PRODUCTS, type Product, productsIn } from "./catalog.ts";

const TITLES: Record<Category, string> = {
  electronics: "Electronics",
  outdoor: "Outdoor",
  home: "Home & kitchen",
  fashion: "Fashion",
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

function formatPrice(price: number): string {
  return `€${price.toFixed(2)}`;
}

const STYLES = `
:root{--ink:#1d2330;--muted:#5b6475;--accent:#0b6bcb;--warm:#c2410c;--paper:#fbfaf7;--line:#e4e2dc}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);background:var(--paper)}
a{color:inherit}header.site{display:flex;align-items:center;gap:2rem;padding:1rem 2rem;border-bottom:1px solid var(--line);background:#fff}
header.site .logo{font-weight:800;font-size:1.4rem;text-decoration:none;letter-spacing:-.02em}
nav.main ul{display:flex;gap:1.25rem;list-style:none;margin:0;padding:0}nav.main a{text-decoration:none;color:var(--muted)}
nav.main a:hover{color:var(--ink)}nav.main details{position:relative}nav.main summary{list-style:none;cursor:pointer}
nav.main .mega{position:absolute;display:block;z-index:5;background:#fff;border:1px solid var(--line);padding:.75rem 1rem;min-width:14rem}
.review{margin:0;background:#fff;border:1px solid var(--line);border-radius:10px;padding:1rem}.review figcaption{color:var(--muted);font-size:.85rem}.search{margin-left:auto}.search input{padding:.45rem .7rem;border:1px solid var(--line);border-radius:6px;width:16rem}
main{max-width:1200px;margin:0 auto;padding:1.5rem 2rem}
.hero{border-radius:14px;padding:3rem;background:linear-gradient(120deg,#fde68a,#fca5a5);margin-bottom:1.5rem}
.hero h1{font-size:2.4rem;margin:0 0 .5rem}.hero p{max-width:36rem;margin:0 0 1.25rem}
.cta{display:inline-block;padding:.7rem 1.2rem;border-radius:8px;background:var(--ink);color:#fff;text-decoration:none;font-weight:600}
.banner{padding:.8rem 1.2rem;border-radius:10px;background:#e0f2fe;margin-bottom:1.5rem}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:1rem}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:1rem;display:flex;flex-direction:column;gap:.35rem}
.card a{text-decoration:none}.card h3{font-size:1rem;margin:.4rem 0 0}.card .price{font-weight:700}
.card .blurb{color:var(--muted);font-size:.85rem;margin:0}.card svg{width:100%;height:auto;border-radius:8px}
section.shelf{margin:2rem 0}section.shelf h2{display:flex;justify-content:space-between;align-items:baseline}
section.shelf h2 a{font-size:.9rem;color:var(--accent)}
.product{display:grid;grid-template-columns:1fr 1fr;gap:2rem}.product .buy{display:flex;gap:.75rem;margin-top:1rem}
button.add{padding:.7rem 1.2rem;border:0;border-radius:8px;background:var(--accent);color:#fff;font-weight:600;cursor:pointer}
footer.site{margin-top:3rem;padding:2rem;background:#111827;color:#d1d5db}footer.site .cols{display:grid;grid-template-columns:repeat(4,1fr);gap:1.5rem;max-width:1200px;margin:0 auto}
footer.site h4{color:#fff;margin:0 0 .5rem}footer.site ul{list-style:none;margin:0;padding:0}footer.site li{margin:.2rem 0}
footer.site a{text-decoration:none}footer.site .legal{max-width:1200px;margin:1.5rem auto 0;font-size:.8rem;color:#9ca3af}
`;

const HUES: Record<Category, number> = { electronics: 210, outdoor: 140, home: 30, fashion: 330 };

function placeholderImage(product: Product): string {
  const hue = HUES[product.category];
  const initials = product.name
    .split(/\s+/)
    .slice(0, 2)
    .map((word) => word[0] ?? "")
    .join("");
  return `<svg viewBox="0 0 240 160" role="img" aria-label="${escapeHtml(product.name)}"><rect width="240" height="160" fill="hsl(${hue} 70% 88%)"/><circle cx="190" cy="40" r="28" fill="hsl(${hue} 60% 75%)"/><text x="24" y="120" font-size="48" font-weight="700" fill="hsl(${hue} 45% 35%)">${escapeHtml(initials)}</text></svg>`;
}

function productCard(product: Product): string {
  return `<article class="card" data-product-id="${product.id}" data-category="${product.category}" data-price="${product.price.toFixed(2)}">
  <a href="/p/${product.id}">${placeholderImage(product)}<h3>${escapeHtml(product.name)}</h3></a>
  <p class="price">${formatPrice(product.price)}</p>
  <p class="blurb">${escapeHtml(product.blurb)}</p>
</article>`;
}

function structuredData(products: readonly Product[]): string {
  const itemList = {
    "@context": "https://schema.org",
    "@type": "ItemList",
    itemListElement: products.map((product, index) => ({
      "@type": "ListItem",
      position: index + 1,
      item: {
        "@type": "Product",
        sku: product.id,
        name: product.name,
        category: TITLES[product.category],
        description: product.blurb,
        url: `/p/${product.id}`,
        offers: { "@type": "Offer", price: product.price.toFixed(2), priceCurrency: "EUR", availability: "https://schema.org/InStock" },
      },
    })),
  };
  return `<script type="application/ld+json">${JSON.stringify(itemList).replace(/</g, "\\u003c")}</script>`;
}

function megaMenu(category: Category): string {
  const links = productsIn(category)
    .map((product) => `<li><a href="/p/${product.id}">${escapeHtml(product.name)}</a></li>`)
    .join("");
  return `<li><details><summary><a href="/c/${category}">${TITLES[category]}</a></summary><ul class="mega">${links}</ul></details></li>`;
}

const REVIEWS = [
  ["Anna, Berlin", "Arrived a day early and the packaging was entirely recyclable. Exactly as described."],
  ["Tom, Leeds", "Second order this month. The returns process was painless when a size did not fit."],
  ["Marta, Madrid", "Good quality for the price, and the support team answered within the hour."],
  ["Luca, Milan", "I compared three shops and this was the best deal with the longest warranty."],
  ["Sofie, Ghent", "Lovely finish and it feels sturdy. Would buy again and recommend to friends."],
  ["Jonas, Vienna", "Fast delivery to Austria, tracking worked, no customs surprises."],
] as const;

function reviewsSection(): string {
  const items = REVIEWS.map(
    ([author, text]) =>
      `<figure class="review"><blockquote>${escapeHtml(text)}</blockquote><figcaption>${escapeHtml(author)} · ★★★★★</figcaption></figure>`,
  ).join("\n");
  return `<section class="shelf reviews"><h2>What customers say</h2><div class="grid">${items}</div></section>`;
}

function layout(title: string, body: string, head = ""): string {
  const nav = CATEGORIES.map(megaMenu).join("");
  const footerColumns = [
    ["Shop", [...CATEGORIES.map((category) => TITLES[category]), "Gift cards", "Sale", "New in"]],
    ["Help", ["Delivery", "Returns", "Order status", "Size guide", "Contact us", "FAQ"]],
    ["Company", ["About us", "Careers", "Press", "Sustainability", "Stores", "Affiliates"]],
    ["Legal", ["Terms of sale", "Privacy notice", "Cookie settings", "Accessibility", "Imprint"]],
  ] as const;
  const footer = footerColumns
    .map(
      ([heading, links]) =>
        `<div><h4>${heading}</h4><ul>${links.map((link) => `<li><a href="/help/${encodeURIComponent(link.toLowerCase())}">${escapeHtml(link)}</a></li>`).join("")}</ul></div>`,
    )
    .join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Northwind Market</title>
<link rel="stylesheet" href="/static/shop.css">
<style>${STYLES}</style>
<script async src="/t.js"></script>
${head}
</head>
<body>
<header class="site">
  <a class="logo" href="/">Northwind Market</a>
  <nav class="main" aria-label="Categories"><ul>${nav}</ul></nav>
  <form class="search" action="/search" role="search"><input name="q" type="search" placeholder="Search products" aria-label="Search products"></form>
</header>
<main>
${body}
</main>
<footer class="site">
  <div class="cols">${footer}</div>
  <p class="legal">Northwind Market is a demo shop for Tailor. Prices include VAT. Free delivery on orders over €50. All products and prices are made up.</p>
</footer>
</body>
</html>
`;
}

/** The latest products of every category, as a shop's homepage shows them below its shelves. */
function newArrivals(): string {
  const latest = CATEGORIES.flatMap((category) => productsIn(category).slice(-6));
  return `<section class="shelf new-in">
<h2>New in</h2>
<div class="grid">
${latest.map(productCard).join("\n")}
</div>
</section>`;
}

/** The homepage, with the three personalization slots in their default state. */
export function renderHomepage(): string {
  const bestsellers = CATEGORIES.flatMap((category) => productsIn(category).slice(0, 2));
  const shelves = CATEGORIES.map(
    (category) => `<section class="shelf" data-category="${category}">
<h2>${TITLES[category]} <a href="/c/${category}">See all</a></h2>
<div class="grid">
${productsIn(category).map(productCard).join("\n")}
</div>
</section>`,
  ).join("\n");
  return layout(
    "Home",
    `<section class="hero" data-slot="hero">
  <h1>Autumn essentials</h1>
  <p>Warm layers, good coffee and everything for the long evenings. Free delivery on orders over €50.</p>
  <a class="cta" href="/c/home">Shop the season</a>
</section>
<div class="banner" data-slot="banner"><p>New here? Sign up for our newsletter and get 10% off your first order.</p></div>
<section class="shelf recommendations">
<h2>Bestsellers</h2>
<div class="grid" data-slot="recommendations">
${bestsellers.map(productCard).join("\n")}
</div>
</section>
${shelves}
${newArrivals()}
${reviewsSection()}`,
    structuredData(PRODUCTS),
  );
}

export function renderCategoryPage(category: Category): string {
  return layout(
    TITLES[category],
    `<section class="shelf" data-category="${category}">
<h1>${TITLES[category]}</h1>
<div class="grid">
${productsIn(category).map(productCard).join("\n")}
</div>
</section>`,
  );
}

export function renderProductPage(product: Product): string {
  const related = PRODUCTS.filter((other) => other.category === product.category && other.id !== product.id).slice(0, 4);
  return layout(
    product.name,
    `<article class="product" data-track-view="Product Viewed" data-product-id="${product.id}" data-category="${product.category}" data-price="${product.price.toFixed(2)}" data-product-name="${escapeHtml(product.name)}">
  <div>${placeholderImage(product)}</div>
  <div>
    <p><a href="/c/${product.category}">${TITLES[product.category]}</a></p>
    <h1>${escapeHtml(product.name)}</h1>
    <p class="price">${formatPrice(product.price)}</p>
    <p>${escapeHtml(product.blurb)}</p>
    <div class="buy"><button class="add" type="button" data-add-to-cart="${product.id}">Add to cart</button></div>
  </div>
</article>
<section class="shelf">
<h2>More in ${TITLES[product.category]}</h2>
<div class="grid">
${related.map(productCard).join("\n")}
</div>
</section>`,
  );
}

export function renderNotFound(): string {
  return layout("Not found", `<h1>Page not found</h1><p><a href="/">Back to the homepage</a></p>`);
}

/** The shop's external stylesheet: a small asset, so there is something non-HTML to pass through. */
export const SHOP_CSS = "body{text-rendering:optimizeLegibility}.card:hover{box-shadow:0 2px 10px rgb(0 0 0 / 8%)}\n";
