// Filters as you type: an input with data-filters="SELECTOR" hides the rows
// of that table that contain no column with its text (case-insensitive,
// runs of white space as one), as the server's filter does on submit.
"use strict";
const normalize = (text) => text.toLowerCase().replace(/\s+/g, " ").trim();
for (const input of document.querySelectorAll("input[data-filters]")) {
  const table = document.querySelector(input.dataset.filters);
  const count = document.querySelector(`[data-count-of="${input.dataset.filters}"]`);
  if (!table) continue;
  const rows = Array.from(table.tBodies[0].rows).map((row) => ({
    row,
    cells: Array.from(row.cells).map((cell) => normalize(cell.textContent)),
  }));
  const total = count ? count.textContent.split(" of ")[1] : "";
  input.addEventListener("input", () => {
    const needle = normalize(input.value);
    let shown = 0;
    for (const { row, cells } of rows) {
      const match = needle === "" || cells.some((cell) => cell.includes(needle));
      row.hidden = !match;
      if (match) shown += 1;
    }
    if (count) count.textContent = `${shown} of ${total}`;
  });
}

// Live pages (data-refresh="SECONDS" on the body) load themselves again
// while they are shown, unless a field has the focus.
const refresh = Number(document.body.dataset.refresh || 0);
if (refresh > 0) {
  setInterval(() => {
    const typing = document.activeElement && ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
    if (document.visibilityState === "visible" && !typing) location.reload();
  }, refresh * 1000);
}
