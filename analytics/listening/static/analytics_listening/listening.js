// Draws the listening charts: each element with data-listening-chart names a JSON block
// (<script type="application/json">, data only, allowed by the CSP) {"x": [...], "lines": [{"name", "values"}],
// "unit": "percent"}. Empty periods are gaps (null), not zeros.
(function () {
  "use strict";

  function percent(value) {
    if (value === null || value === undefined || value === "-") return "—";
    const language = document.documentElement.lang || undefined;
    return `${Number(value).toLocaleString(language, { maximumFractionDigits: 1 })}%`;
  }

  function draw(element) {
    const block = document.getElementById(element.dataset.listeningChart);
    if (!block || !window.echarts) return;
    const config = JSON.parse(block.textContent);
    const chart = window.echarts.init(element, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      legend: { top: 0 },
      tooltip: { trigger: "axis", valueFormatter: percent },
      xAxis: { type: "category", data: config.x, axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", min: 0, axisLabel: { formatter: percent } },
      series: config.lines.map((line) => ({ name: line.name, type: "line", data: line.values, connectNulls: false })),
    });
    element.dataset.drawn = "yes";
    window.addEventListener("resize", () => chart.resize());
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-listening-chart]").forEach(draw);
  });
})();
