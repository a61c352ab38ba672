// Draws every chart described by a JSON block (<script type="application/json">, allowed by the CSP: data, not
// code) that an element names in data-chart:
//   {"type": "line"|"bar", "x": [...], "lines": [{"name", "values", "drill"}], "unit": "count"|"percent"|"seconds"|
//    "score", "labels": {duration formats}, "drill": "<drill-down URL with the filters>" | null, "urls": [per bar]}
// Clicking a point opens the drill-down for that line's metric and that day; clicking a bar opens its own URL.
// Charts are drawn on load and again after htmx swaps in new content (the filter bar).
(function () {
  "use strict";

  function fill(format, values) {
    return format.replace(/%\((\w+)\)s/g, (_match, key) => String(values[key]));
  }

  function duration(seconds, labels) {
    const total = Math.round(seconds);
    if (total < 60) return fill(labels.s, { seconds: total });
    const minutes = Math.floor(total / 60);
    if (minutes < 60) return fill(labels.min, { minutes });
    const hours = Math.floor(minutes / 60);
    if (hours < 24) {
      return minutes % 60 ? fill(labels.h_min, { hours, minutes: minutes % 60 }) : fill(labels.h, { hours });
    }
    const days = Math.floor(hours / 24);
    return hours % 24 ? fill(labels.d_h, { days, hours: hours % 24 }) : fill(labels.d, { days });
  }

  function formatter(config) {
    const language = document.documentElement.lang || undefined;
    return (value) => {
      if (value === null || value === undefined || value === "-") return "—";
      if (config.unit === "seconds") return duration(value, config.labels);
      if (config.unit === "percent") return `${Number(value).toLocaleString(language, { maximumFractionDigits: 1, minimumFractionDigits: 1 })}%`;
      if (config.unit === "score") return Number(value).toLocaleString(language, { maximumFractionDigits: 2 });
      return Number(value).toLocaleString(language);
    };
  }

  function option(config) {
    const format = formatter(config);
    const bar = config.type === "bar";
    return {
      animation: false,
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      legend: { top: 0 },
      // Drawn on the canvas: ECharts' HTML tooltip writes style attributes, which the CSP refuses.
      tooltip: { trigger: bar ? "item" : "axis", valueFormatter: format, renderMode: "richText" },
      xAxis: { type: "category", data: config.x, axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", min: 0, minInterval: config.unit === "count" ? 1 : 0, axisLabel: { formatter: format } },
      series: config.lines.map((line) => ({
        name: line.name,
        type: bar ? "bar" : "line",
        data: line.values,
        connectNulls: false,
        barMaxWidth: 48,
        showSymbol: true,
        symbolSize: 6,
        cursor: bar ? (config.urls ? "pointer" : "default") : (line.drill ? "pointer" : "default"),
      })),
    };
  }

  function draw(element) {
    const block = document.getElementById(element.dataset.chart);
    if (!block || !window.echarts) return;
    const config = JSON.parse(block.textContent);
    const existing = window.echarts.getInstanceByDom(element);
    if (existing) existing.dispose();
    // A page htmx restores from its history snapshot carries the old chart's markup and instance attribute but no
    // live chart: start from an empty element.
    element.removeAttribute("_echarts_instance_");
    element.replaceChildren();
    const chart = window.echarts.init(element, null, { renderer: "canvas" });
    chart.setOption(option(config));
    chart.on("click", (params) => {
      let url = null;
      if (config.type === "bar") {
        url = config.urls && config.urls[params.dataIndex];
      } else {
        const line = config.lines[params.seriesIndex];
        if (config.drill && line && line.drill) {
          const separator = config.drill.includes("?") ? "&" : "?";
          url = `${config.drill}${separator}metric=${encodeURIComponent(line.drill)}&day=${encodeURIComponent(config.x[params.dataIndex])}`;
        }
      }
      if (url) window.location.assign(url);
    });
    element.dataset.drawn = "yes";
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(draw);
  }

  // The filter bar sends only the filters set: the pushed URL stays short and shareable (no "team=&agent=").
  document.addEventListener("htmx:configRequest", (event) => {
    if (!event.detail.elt || event.detail.elt.id !== "dashboard-filters") return;
    const data = event.detail.formData;
    for (const name of new Set(data.keys())) {
      const values = data.getAll(name).filter((value) => value !== "");
      data.delete(name);
      values.forEach((value) => data.append(name, value));
    }
  });

  window.tsunaguCharts = { drawAll };
  document.addEventListener("DOMContentLoaded", () => drawAll(document));
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (!window.echarts) return;
    event.detail.target.querySelectorAll("[data-chart]").forEach((element) => {
      const chart = window.echarts.getInstanceByDom(element);
      if (chart) chart.dispose();
    });
  });
  document.addEventListener("htmx:afterSettle", () => drawAll(document));
  document.addEventListener("htmx:historyRestore", () => drawAll(document));
  window.addEventListener("resize", () => {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart]").forEach((element) => {
      const chart = window.echarts.getInstanceByDom(element);
      if (chart) chart.resize();
    });
  });
})();
