/** The editor's stylesheet, served as `/admin/assets/admin.css`. */
export const ADMIN_CSS = `
:root{--ink:#1d2330;--muted:#5b6475;--line:#e4e2dc;--accent:#0b6bcb;--paper:#f7f6f2;--bad:#b42318;--warn:#9a6700;--good:#067647}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);background:var(--paper)}
.bar{display:flex;gap:1.5rem;align-items:center;padding:.75rem 1.5rem;background:#111827;color:#fff}.bar a{color:#fff;text-decoration:none}
.bar .brand{font-weight:800}.bar nav{display:flex;gap:1rem}.bar .logout{margin-left:auto}.bar .logout button{background:transparent;color:#fff;border-color:#6b7280}
main{max-width:1280px;margin:0 auto;padding:1.5rem}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:1.25rem;margin-bottom:1.25rem}.narrow{max-width:420px;margin:3rem auto}
label{display:block;margin:.6rem 0}input,select,textarea{display:block;width:100%;padding:.45rem .55rem;border:1px solid #c9c6bd;border-radius:6px;font:inherit}
textarea{font-family:ui-monospace,Menlo,monospace;font-size:13px}fieldset{border:1px solid var(--line);border-radius:8px;margin:1rem 0}
button,.button{display:inline-block;padding:.5rem .9rem;border:1px solid #c9c6bd;border-radius:6px;background:#fff;font:inherit;cursor:pointer;text-decoration:none;color:inherit}
.primary{background:var(--accent);border-color:var(--accent);color:#fff}
table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
.muted{color:var(--muted)}.error,.problem.error{color:var(--bad)}.problem.warning{color:var(--warn)}.problem{margin:.2rem 0;font-size:.9em}
.warning{background:#fff8e1;border:1px solid #f1d48a;border-radius:8px;padding:.75rem}.status.ok{color:var(--good)}.status.error{color:var(--bad)}
.badge{background:var(--good);color:#fff;border-radius:4px;padding:0 .35rem;font-size:.8em}tr.live{background:#f0faf4}
.editor{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1.2fr);gap:1.25rem;align-items:start}
.condition-row{display:grid;grid-template-columns:2fr 1.2fr 1fr auto;gap:.4rem;margin:.3rem 0}.condition-row select,.condition-row input{margin:0}
.preview iframe{width:100%;height:720px;border:1px solid var(--line);border-radius:8px;background:#fff}.decisions{padding-left:1.2rem}
.chart{max-width:420px;display:block;margin-top:.5rem}.docs pre{background:#f3f2ee;padding:.75rem;overflow:auto;font-size:12px}
.json-editor textarea{min-height:480px}
`;
