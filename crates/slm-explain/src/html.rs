//! Self-contained HTML reports: one file with its styles, data and script inline (no network, no CDN), so
//! it opens offline and can be attached to a report. The data travels as JSON in a
//! `<script type="application/json">` element with every `<` escaped, so no text of the model or the user
//! can close the element or inject markup; the script writes tokens with `textContent` only. When the
//! script has drawn the page it sets `data-status="ok"` on `<body>` (a browser test reads it).

use serde_json::Value;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#222}
.controls label{margin-right:16px}#heatmap table{border-collapse:collapse;font-size:12px}
#heatmap td,#heatmap th{width:22px;height:22px;text-align:center;padding:0}
#heatmap th{font-weight:normal;white-space:pre;font-family:monospace}
#heatmap th.col{writing-mode:vertical-rl;height:auto;padding-bottom:4px}
svg text{font-family:monospace;font-size:13px;cursor:pointer}
.tok{font-family:monospace;padding:2px 3px;margin:1px;border-radius:3px;display:inline-block;white-space:pre}
.legend{color:#666;font-size:13px}";

/// `&`, `<`, `>` and `"` as entities.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A whole page: `title`, the `body` markup, `data` embedded as JSON (element id `data`) and `script`.
pub fn page(title: &str, body: &str, data: &Value, script: &str) -> String {
    let json = serde_json::to_string(data).expect("JSON serializes").replace('<', "\\u003c");
    let title = escape(title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{STYLE}</style></head>\n<body data-status=\"loading\">\n<h1>{title}</h1>\n{body}\n\
         <script type=\"application/json\" id=\"data\">{json}</script>\n<script>\n\
         window.onerror = function (message) {{ document.body.dataset.status = 'error: ' + message; }};\n\
         {script}\ndocument.body.dataset.status = 'ok';\n</script>\n</body></html>\n"
    )
}

const ATTENTION_BODY: &str = "<div class=\"controls\"><label>Layer <select id=\"layer\"></select></label>\
<label>Head <select id=\"head\"></select></label><label>View <select id=\"view\">\
<option value=\"lines\">head view</option><option value=\"heatmap\">heatmap</option></select></label></div>\
<p class=\"legend\">Left: each token as it attends (query); right: the tokens it attends to (keys). \
Line and cell darkness: attention weight. Hover a token on the left to see only its lines.</p>\
<div id=\"lines\"></div><div id=\"heatmap\"></div>";

const ATTENTION_SCRIPT: &str = r#"
var d = JSON.parse(document.getElementById('data').textContent);
var t = d.tokens.length, SVG = 'http://www.w3.org/2000/svg';
var layerSel = document.getElementById('layer'), headSel = document.getElementById('head');
var viewSel = document.getElementById('view');
function option(sel, value, text) { var o = document.createElement('option'); o.value = value; o.textContent = text; sel.appendChild(o); }
for (var l = 0; l < d.layers; l++) option(layerSel, l, 'layer ' + l);
option(layerSel, 'rollout', 'rollout (all layers)');
option(headSel, -1, 'mean of heads');
for (var h = 0; h < d.heads; h++) option(headSel, h, 'head ' + h);
function label(tok) { return tok.replace(/\n/g, '\\n').replace(/ /g, '\u00b7'); }
function matrix() {
  if (layerSel.value === 'rollout') return d.rollout;
  var layer = d.attention[+layerSel.value], h = +headSel.value;
  if (h >= 0) return layer[h];
  return layer[0].map(function (row, q) { return row.map(function (_, k) {
    var s = 0; for (var i = 0; i < layer.length; i++) s += layer[i][q][k]; return s / layer.length; }); });
}
function svgText(x, y, anchor, text) {
  var e = document.createElementNS(SVG, 'text');
  e.setAttribute('x', x); e.setAttribute('y', y); e.setAttribute('text-anchor', anchor); e.textContent = text; return e;
}
function drawLines(m) {
  var rowH = 20, svg = document.createElementNS(SVG, 'svg'), lines = [];
  svg.setAttribute('width', 520); svg.setAttribute('height', t * rowH + 10);
  for (var q = 0; q < t; q++) for (var k = 0; k < t; k++) {
    if (m[q][k] < 0.005) continue;
    var line = document.createElementNS(SVG, 'line');
    line.setAttribute('x1', 165); line.setAttribute('y1', (q + 1) * rowH - 4);
    line.setAttribute('x2', 355); line.setAttribute('y2', (k + 1) * rowH - 4);
    line.setAttribute('stroke', '#08306b'); line.setAttribute('stroke-width', 2);
    line.setAttribute('stroke-opacity', m[q][k]); line.dataset.q = q; svg.appendChild(line); lines.push(line);
  }
  for (var i = 0; i < t; i++) {
    var left = svgText(160, (i + 1) * rowH, 'end', label(d.tokens[i])), right = svgText(360, (i + 1) * rowH, 'start', label(d.tokens[i]));
    left.dataset.q = i;
    left.addEventListener('mouseenter', function (e) { var q = e.target.dataset.q;
      lines.forEach(function (l) { l.style.display = l.dataset.q === q ? '' : 'none'; }); });
    left.addEventListener('mouseleave', function () { lines.forEach(function (l) { l.style.display = ''; }); });
    svg.appendChild(left); svg.appendChild(right);
  }
  document.getElementById('lines').replaceChildren(svg);
}
function drawHeatmap(m) {
  var table = document.createElement('table'), head = document.createElement('tr');
  head.appendChild(document.createElement('th'));
  d.tokens.forEach(function (tok) { var th = document.createElement('th'); th.className = 'col'; th.textContent = label(tok); head.appendChild(th); });
  table.appendChild(head);
  m.forEach(function (row, q) {
    var tr = document.createElement('tr'), th = document.createElement('th');
    th.textContent = label(d.tokens[q]); tr.appendChild(th);
    row.forEach(function (w) { var td = document.createElement('td');
      td.style.background = 'rgba(8,48,107,' + w + ')'; td.title = w.toFixed(4); tr.appendChild(td); });
    table.appendChild(tr);
  });
  document.getElementById('heatmap').replaceChildren(table);
}
function draw() {
  var m = matrix(), lines = viewSel.value === 'lines';
  headSel.disabled = layerSel.value === 'rollout';
  document.getElementById('lines').style.display = lines ? '' : 'none';
  document.getElementById('heatmap').style.display = lines ? 'none' : '';
  if (lines) drawLines(m); else drawHeatmap(m);
}
layerSel.onchange = headSel.onchange = viewSel.onchange = draw;
draw();
drawHeatmap(matrix());
"#;

/// The attention page of `maps` (the JSON of [`crate::attention::AttentionMaps::to_json`]): a head view (tokens on both sides, lines weighted by attention) and a
/// heatmap, with layer (or rollout) and head selectors.
pub fn attention_page(title: &str, maps: &Value) -> String {
    page(title, ATTENTION_BODY, maps, ATTENTION_SCRIPT)
}

const TOKENS_BODY: &str = "<p class=\"legend\">Each row is one target (its text and score); each input token is \
coloured by its attribution to that target: blue raises the score, red lowers it, darker is larger (scaled \
to the row's largest). Hover a token for its value.</p><div id=\"rows\"></div>";

const TOKENS_SCRIPT: &str = r#"
var d = JSON.parse(document.getElementById('data').textContent);
var rows = document.getElementById('rows');
d.attributions.forEach(function (row, j) {
  var max = row.reduce(function (m, v) { return Math.max(m, Math.abs(v)); }, 1e-12);
  var div = document.createElement('div'), head = document.createElement('p');
  head.textContent = 'target ' + (j + 1) + ': ' + JSON.stringify(d.targets[j].text) + ' (score ' + d.targets[j].score.toFixed(4) + ')';
  div.appendChild(head);
  row.forEach(function (v, i) {
    var span = document.createElement('span'), a = Math.abs(v) / max;
    span.className = 'tok'; span.textContent = d.input_tokens[i]; span.title = v.toPrecision(4);
    span.style.background = v >= 0 ? 'rgba(8,48,107,' + a + ')' : 'rgba(165,15,21,' + a + ')';
    span.style.color = a > 0.5 ? 'white' : 'black';
    div.appendChild(span);
  });
  rows.appendChild(div);
});
"#;

/// The token attribution page of `attribution` (its JSON): one row of coloured input tokens per target.
pub fn tokens_page(title: &str, attribution: &Value) -> String {
    page(title, TOKENS_BODY, attribution, TOKENS_SCRIPT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_text_can_close_the_data_element_or_add_markup() {
        let hostile = "</script><script>alert(1)</script><img src=x onerror=alert(2)>";
        let html = page(hostile, "", &serde_json::json!({"tokens": [hostile]}), "");
        assert_eq!(html.matches("</script>").count(), 2, "only the page's own two script elements close");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;/script&gt;"), "the title is escaped");
        // The JSON still parses back to the same text.
        let start = html.find("id=\"data\">").unwrap() + "id=\"data\">".len();
        let end = start + html[start..].find("</script>").unwrap();
        let back: Value = serde_json::from_str(&html[start..end]).unwrap();
        assert_eq!(back["tokens"][0], hostile);
    }
}
