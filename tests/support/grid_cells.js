// Render the company table's and the wallboard's judged cells as the browser would, without one: loads
// assets/switchboard.js with the page's globals stubbed, then applies a column's valueFormatter (the desk) and the
// wallboard's cell renderer to each row given. Usage: node grid_cells.js <switchboard.js> <field> <formatter> <rows>
const fs = require("fs");
const [script, field, formatterText, rowsText] = process.argv.slice(2);
const stub = new Proxy(function () {}, {
  get: (target, key) => key === Symbol.toPrimitive ? () => "" : key === "then" ? undefined : stub,
  apply: () => stub, construct: () => stub, set: () => true});
global.window = new Proxy({dashAgGridFunctions: {}, dashAgGridComponentFunctions: {}}, {
  get: (target, key) => key in target ? target[key] : stub, set: (target, key, value) => { target[key] = value; return true; }});
for (const name of ["document", "localStorage", "sessionStorage", "navigator", "fetch", "location", "MutationObserver",
                    "ResizeObserver", "IntersectionObserver"]) { global[name] = stub; }
global.setInterval = () => 0;
global.setTimeout = () => 0;
global.React = {createElement: (tag, props, ...children) => children.flat().filter((c) => c !== null).join("")};
eval(fs.readFileSync(script, "utf8"));
const grid = window.dashAgGridFunctions;
const formatter = new Function("params", ...Object.keys(grid), "return " + formatterText);
const shown = {};
for (const [name, data] of Object.entries(JSON.parse(rowsText))) {
  const params = {value: data[field], data, colDef: {field}};
  shown[name] = {desk: formatter(params, ...Object.values(grid)),
                 wall: window.dashAgGridComponentFunctions.SwitchboardLevelCell({...params, format: "percent"})};
}
console.log(JSON.stringify(shown));
