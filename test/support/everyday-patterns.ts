/**
 * `$regex` patterns marketers write every day: the regex guard must accept every one of them. One
 * list for the unit tests, the admin API tests and `npm run bench:regex`.
 */
export const EVERYDAY_PATTERNS: readonly string[] = [
  "^/c/electronics",
  "^(de|at|ch)$",
  "\\.pdf$",
  "^[a-z]{2}-[A-Z]{2}$",
  "^(?:spring|summer)-sale",
  "utm_[a-z]+",
  "^\\d{5}$",
  "foo.*bar",
  "^https?://(www\\.)?example\\.com/",
  "^/c/[a-z-]+(/[a-z0-9-]+)*/?$",
  "^(\\d{3}-)+\\d{4}$",
  "(google|facebook|bing)",
  "^[^@\\s]+@example\\.com$",
  "black.?friday",
  "a/b",
];
