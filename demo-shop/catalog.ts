/**
 * The demo shop's catalogue: four categories of made-up products, generated deterministically so
 * that every run (dev, tests, benchmarks) serves byte-identical pages.
 * @module
 */

export const CATEGORIES = ["electronics", "outdoor", "home", "fashion"] as const;
export type Category = (typeof CATEGORIES)[number];

export interface Product {
  id: string;
  name: string;
  category: Category;
  price: number;
  blurb: string;
}

const NAMES: Record<Category, readonly string[]> = {
  electronics: [
    "Noise-cancelling headphones",
    "4K streaming stick",
    "Mechanical keyboard",
    "Wireless earbuds",
    "27-inch monitor",
    "Smart speaker",
    "Action camera",
    "E-reader",
    "Portable SSD 1 TB",
    "Fitness tracker",
    "USB-C dock",
    "Bluetooth turntable",
    "Drone with gimbal",
    "Gaming mouse",
    "Mesh Wi-Fi kit",
    "Tablet 11-inch",
  ],
  outdoor: [
    "Two-person tent",
    "Trail running shoes",
    "Insulated bottle",
    "Down sleeping bag",
    "Trekking poles",
    "Headlamp 400 lm",
    "Camp stove",
    "Rain shell",
    "Daypack 28 L",
    "Hammock",
    "Water filter",
    "Folding chair",
    "Climbing harness",
    "Bike lights set",
    "Kayak paddle",
    "Merino base layer",
  ],
  home: [
    "Cast-iron skillet",
    "Linen bedding set",
    "Pour-over coffee kit",
    "Ceramic vase",
    "Wool throw",
    "Chef's knife",
    "Table lamp",
    "Bath towel set",
    "Herb planter",
    "Cutting board",
    "Scented candle",
    "Storage baskets",
    "Espresso cups",
    "Wall clock",
    "Doormat",
    "Dutch oven",
  ],
  fashion: [
    "Denim jacket",
    "Leather sneakers",
    "Cashmere scarf",
    "Chino trousers",
    "Oxford shirt",
    "Wool coat",
    "Canvas tote",
    "Sunglasses",
    "Knit beanie",
    "Leather belt",
    "Rain boots",
    "Linen dress",
    "Crew socks 5-pack",
    "Hoodie",
    "Watch with steel strap",
    "Silk tie",
  ],
};

const BLURBS = [
  "Chosen by our buyers for everyday use, with a two-year warranty and free returns within 30 days.",
  "A customer favourite this season: durable materials, careful finishing and a price that holds up.",
  "Designed to last and easy to care for. Ships within two working days from our own warehouse.",
  "Rated 4.7 out of 5 by more than a thousand customers. Available in several colours while stocks last.",
] as const;

const PREFIX: Record<Category, string> = { electronics: "el", outdoor: "od", home: "hm", fashion: "fa" };

function buildCatalogue(): Product[] {
  const products: Product[] = [];
  for (const category of CATEGORIES) {
    NAMES[category].forEach((name, index) => {
      products.push({
        id: `${PREFIX[category]}-${String(index + 1).padStart(2, "0")}`,
        name,
        category,
        price: 19 + ((index * 37 + category.length * 11) % 280) + 0.99,
        blurb: BLURBS[index % BLURBS.length] ?? "",
      });
    });
  }
  return products;
}

export const PRODUCTS: readonly Product[] = buildCatalogue();

export function findProduct(id: string): Product | undefined {
  return PRODUCTS.find((product) => product.id === id);
}

export function productsIn(category: Category): Product[] {
  return PRODUCTS.filter((product) => product.category === category);
}

export function isCategory(value: string): value is Category {
  return (CATEGORIES as readonly string[]).includes(value);
}
