"use strict";
(function () {
  function key(cell) {
    var raw = cell.getAttribute("data-sort");
    return raw === null ? cell.textContent : raw;
  }
  function compare(a, b, numeric) {
    if (numeric) {
      var x = a === "" ? Infinity : Number(a), y = b === "" ? Infinity : Number(b);
      return x - y;
    }
    return a.localeCompare(b);
  }
  function sortBy(table, column, header) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keys = rows.map(function (row) { return key(row.cells[column]); });
    var numeric = keys.every(function (k) { return k === "" || !isNaN(Number(k)); });
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var order = rows.map(function (row, i) { return i; });
    order.sort(function (i, j) {
      var c = compare(keys[i], keys[j], numeric);
      return (ascending ? c : -c) || i - j;
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    order.forEach(function (i) { body.appendChild(rows[i]); });
  }
  function filter(input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    var query = input.value.trim().toLowerCase();
    var shown = 0, rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      var hit = query === "" || rows[i].textContent.toLowerCase().indexOf(query) !== -1;
      rows[i].hidden = !hit;
      if (hit) { shown += 1; }
    }
    var count = document.getElementById(table.id + "-count");
    if (count) { count.textContent = shown + " of " + rows.length + " rows"; }
  }
  document.querySelectorAll("table.lw-table").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      th.addEventListener("click", function () { sortBy(table, column, th); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, column, th); }
      });
    });
  });
  document.querySelectorAll("input.lw-filter").forEach(function (input) {
    input.addEventListener("input", function () { filter(input); });
  });
}());
