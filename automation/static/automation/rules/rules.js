// Settings → Automation rules. Two small behaviours, no framework:
//  - the rule list keeps keyboard focus on the same button after htmx replaces the list (move up/down, on/off);
//  - the rule editor's condition and action builders, which write the rule as JSON into the form's two textareas.
// The server validates that JSON and answers errors keyed by path ("conditions.all.1.value"); the builders compute
// the same paths from their rows, so each error appears next to its row. Every word shown comes translated from the
// page (json_script "rule-editor-spec"); nothing typed is ever inserted as HTML.
(function () {
  "use strict";

  // --- rule list: focus survives htmx swaps ---------------------------------------------------------------------
  let focusId = null;
  document.addEventListener("htmx:beforeRequest", () => {
    const current = document.activeElement;
    focusId = current && current.id ? current.id : null;
  });
  document.addEventListener("htmx:afterSettle", () => {
    if (!focusId) return;
    let target = document.getElementById(focusId);
    if (target && target.disabled) {
      // The rule reached the top or the bottom: its other move button is still there.
      const other = focusId.endsWith("-up") ? focusId.replace(/-up$/, "-down") : focusId.replace(/-down$/, "-up");
      target = document.getElementById(other);
    }
    if (target && !target.disabled && document.activeElement !== target) target.focus();
    focusId = null;
  });

  // --- rule editor ----------------------------------------------------------------------------------------------
  const form = document.getElementById("rule-form");
  const specNode = document.getElementById("rule-editor-spec");
  if (!form || !specNode) return;
  const spec = JSON.parse(specNode.textContent);
  const t = spec.i18n;
  const fields = new Map(spec.fields.map((f) => [f.key, f]));
  const actionSpecs = new Map(spec.actions.map((a) => [a.type, a]));
  const valueless = new Set(spec.valueless);
  const condInput = document.getElementById("id_conditions");
  const actInput = document.getElementById("id_actions");
  const condRoot = document.getElementById("conditions-builder");
  const actRoot = document.getElementById("actions-builder");
  let active = false; // the builders hold the rule
  let dirty = false; // the builders changed it: only then do they overwrite the JSON fields
  let uid = 0;
  let rootGroup = null;
  let actionList = null;
  let actionErrors = null;

  const nextId = (prefix) => `${prefix}-${++uid}`;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children || []) if (child !== null && child !== undefined && child !== false) node.append(child);
    return node;
  }

  function button(text, className, label) {
    return el("button", { type: "button", className: className || "", text, "aria-label": label || null });
  }

  function errorNode() {
    return el("p", { className: "field-error row-error", id: nextId("rule-error"), hidden: true });
  }

  // A select that keeps a value it does not offer (a deleted team, a field typed by hand): the server then says
  // what is wrong with it, and nothing is silently dropped.
  function select(options, value, label, placeholder, className) {
    const node = el("select", { "aria-label": label, className: className || null });
    if (placeholder !== undefined) node.append(el("option", { value: "", text: placeholder }));
    let found = false;
    for (const option of options) {
      const item = el("option", { value: String(option.value), text: option.label });
      if (value !== undefined && value !== null && String(option.value) === String(value)) {
        item.selected = true;
        found = true;
      }
      node.append(item);
    }
    if (!found && value !== undefined && value !== null && value !== "") {
      const item = el("option", { value: String(value), text: `${String(value)} ${t.unknown}` });
      item.dataset.raw = JSON.stringify(value);
      item.selected = true;
      node.append(item);
    }
    return node;
  }

  function readSelect(node, numeric) {
    const option = node.selectedOptions[0];
    if (!option || option.value === "") return null;
    if (option.dataset.raw !== undefined) return JSON.parse(option.dataset.raw);
    return numeric ? Number(option.value) : option.value;
  }

  function checkboxes(options, values, legend, numeric) {
    const box = el("fieldset", { className: "checks" }, [el("legend", { className: "sr-only", text: legend })]);
    box.dataset.numeric = numeric ? "1" : "";
    const chosen = new Map();
    for (const v of Array.isArray(values) ? values : values === undefined || values === null ? [] : [values]) {
      chosen.set(String(v), v);
    }
    if (!options.length) box.append(el("span", { className: "help", text: t.noOptions }));
    const add = (value, label, raw) => {
      const id = nextId("rule-check");
      const input = el("input", { type: "checkbox", id, value: String(value) });
      if (raw !== undefined) input.dataset.raw = JSON.stringify(raw);
      input.checked = chosen.has(String(value));
      box.append(el("label", { for: id, className: "check" }, [input, ` ${label}`]));
    };
    for (const option of options) {
      add(option.value, option.label);
    }
    for (const [key, raw] of chosen) {
      if (!options.some((o) => String(o.value) === key)) add(key, `${key} ${t.unknown}`, raw);
    }
    return box;
  }

  function readCheckboxes(box) {
    return [...box.querySelectorAll("input[type=checkbox]:checked")].map((input) => {
      if (input.dataset.raw !== undefined) return JSON.parse(input.dataset.raw);
      return box.dataset.numeric ? Number(input.value) : input.value;
    });
  }

  const splitList = (text) =>
    text
      .split(/[\n,、，]/)
      .map((s) => s.trim())
      .filter(Boolean);
  const asText = (value, joiner) =>
    Array.isArray(value) ? value.join(joiner) : value === undefined || value === null ? "" : String(value);

  // --- conditions -----------------------------------------------------------------------------------------------
  function valueEditor(field, op, value, key) {
    // Returns {node, read(target)} or null for operators without a value.
    if (!field) return null;
    const wrap = el("div", { className: "cond-value" });
    const editor = { node: wrap, focus: null };
    if (field.kind === "attribute") {
      const keyId = nextId("rule-key");
      const keyInput = el("input", { type: "text", id: keyId, value: key || "", maxlength: 60 });
      wrap.append(el("label", { for: keyId, text: t.attributeName }), keyInput);
      editor.focus = keyInput;
      let valueInput = null;
      if (!valueless.has(op)) {
        const valueId = nextId("rule-val");
        valueInput = el("input", { type: "text", id: valueId, value: asText(value, ", ") });
        wrap.append(el("label", { for: valueId, text: t.attributeValue }), valueInput);
      }
      editor.read = (target) => {
        target.key = keyInput.value;
        if (valueInput) target.value = valueInput.value;
      };
      editor.keyNode = keyInput;
      editor.valueNode = valueInput || keyInput;
      return editor;
    }
    if (valueless.has(op) || field.kind === "hours") return null;
    if (field.choices.length) {
      const box = checkboxes(field.choices, value, `${field.label}: ${t.value}`, false);
      wrap.append(box);
      editor.read = (target) => (target.value = readCheckboxes(box));
      editor.valueNode = box.querySelector("input") || box;
    } else if (field.kind === "ref") {
      const box = checkboxes(spec.options[field.ref] || [], value, `${field.label}: ${t.value}`, true);
      wrap.append(box);
      editor.read = (target) => (target.value = readCheckboxes(box));
      editor.valueNode = box.querySelector("input") || box;
    } else if (field.kind === "bool") {
      const node = select(
        [
          { value: "true", label: t.yes },
          { value: "false", label: t.no },
        ],
        value === false ? "false" : "true",
        `${field.label}: ${t.value}`,
      );
      wrap.append(node);
      editor.read = (target) => (target.value = node.value === "true");
      editor.valueNode = node;
    } else if (field.kind === "minutes") {
      const id = nextId("rule-val");
      const input = el("input", { type: "number", id, min: 0, step: 1, inputmode: "numeric", value: asText(value, "") });
      wrap.append(el("label", { for: id, className: "sr-only", text: `${field.label}: ${t.minutes}` }), input);
      wrap.append(el("span", { className: "unit", text: t.minutes }));
      editor.read = (target) => {
        const text = input.value.trim();
        // A number when it is one; otherwise what was typed, so the server's message can say what is wrong.
        target.value = /^\d+$/.test(text) ? Number(text) : text === "" ? null : text;
      };
      editor.valueNode = input;
    } else if (field.kind === "text" && (op === "matches" || op === "not_matches")) {
      const id = nextId("rule-val");
      const input = el("input", { type: "text", id, className: "pattern", value: asText(value, "|"), spellcheck: "false" });
      wrap.append(el("label", { for: id, text: t.pattern }), input);
      editor.read = (target) => (target.value = input.value);
      editor.valueNode = input;
    } else if (field.kind === "text") {
      const id = nextId("rule-val");
      const input = el("textarea", { id, rows: 2 });
      input.value = asText(value, "\n");
      wrap.append(el("label", { for: id, text: t.keywords }), input);
      editor.read = (target) => (target.value = splitList(input.value));
      editor.valueNode = input;
    } else {
      const id = nextId("rule-val");
      const input = el("input", { type: "text", id, value: asText(value, ", ") });
      wrap.append(el("label", { for: id, text: t.tags }), input);
      editor.read = (target) => (target.value = splitList(input.value));
      editor.valueNode = input;
    }
    editor.focus = editor.valueNode;
    return editor;
  }

  function conditionRow(data) {
    data = data && typeof data === "object" && !Array.isArray(data) ? data : { raw: data };
    const li = el("li", { className: "rule-row cond-row" });
    li.dataset.kind = "condition";
    const fieldSelect = select(
      spec.fields.map((f) => ({ value: f.key, label: f.label })),
      data.field,
      t.field,
      t.chooseField,
      "cond-field",
    );
    const opHolder = el("span", { className: "cond-op" });
    const remove = button("✕", "remove", t.removeCondition);
    const valueHolder = el("div", { className: "cond-value-holder" });
    const errors = errorNode();
    li.append(el("div", { className: "cond-line" }, [fieldSelect, opHolder, remove]), valueHolder, errors);
    const row = { li, fieldSelect, opSelect: null, editor: null, errors, raw: data };
    li._row = row;

    function renderOp(op) {
      const field = fields.get(fieldSelect.value);
      const ops = field ? field.ops : [];
      row.opSelect = select(ops, op === undefined ? (ops[0] || {}).value : op, t.operator, undefined, "cond-op-select");
      opHolder.replaceChildren(row.opSelect);
      row.opSelect.addEventListener("change", () => {
        const carried = {};
        if (row.editor) row.editor.read(carried);
        renderValue(carried.value, carried.key);
      });
    }
    function renderValue(value, key) {
      const field = fields.get(fieldSelect.value);
      row.editor = valueEditor(field, row.opSelect ? row.opSelect.value : undefined, value, key);
      valueHolder.replaceChildren(row.editor ? row.editor.node : "");
    }
    renderOp(data.op);
    renderValue(data.value, data.key);
    fieldSelect.addEventListener("change", () => {
      renderOp(undefined);
      renderValue(undefined, undefined);
    });
    remove.addEventListener("click", () => {
      const group = li.closest(".rule-group");
      li.remove();
      changed();
      group.querySelector(".add-condition").focus();
    });
    return li;
  }

  function readCondition(row) {
    const field = fields.get(row.fieldSelect.value);
    if (!field && row.fieldSelect.value !== "" && row.raw && row.raw.field === row.fieldSelect.value) {
      return row.raw; // a field the builder does not know: kept exactly as it came
    }
    const out = { field: readSelect(row.fieldSelect) ?? "", op: row.opSelect ? readSelect(row.opSelect) ?? "" : "" };
    if (row.editor) row.editor.read(out);
    return out;
  }

  function groupBox(data, isRoot) {
    const source = data && typeof data === "object" && !Array.isArray(data) ? data : {};
    const mode = "any" in source && !("all" in source) ? "any" : "all";
    const items = Array.isArray(source[mode]) ? source[mode] : [];
    const box = el("div", { className: "rule-group", role: "group" });
    const modeSelect = select(
      [
        { value: "all", label: t.all },
        { value: "any", label: t.any },
      ],
      mode,
      t.match,
      undefined,
      "group-mode",
    );
    const list = el("ol", { className: "rule-items" });
    const addCondition = button(`+ ${t.addCondition}`, "add-condition");
    const addGroup = button(`+ ${t.addGroup}`, "add-group");
    const head = el("div", { className: "group-head" }, [el("span", { className: "group-label", text: t.match }), modeSelect]);
    const errors = errorNode();
    box.append(head, errors, list, el("div", { className: "group-buttons" }, [addCondition, addGroup]));
    if (isRoot) box.append(el("p", { className: "help empty-note", text: t.noConditions }));
    box.setAttribute("aria-label", t.group);
    const group = { box, modeSelect, list, errors };
    box._group = group;
    for (const item of items) list.append(itemNode(item));
    addCondition.addEventListener("click", () => {
      const li = conditionRow({});
      list.append(li);
      changed();
      li.querySelector("select").focus();
    });
    addGroup.addEventListener("click", () => {
      const li = groupRow({ any: [] });
      list.append(li);
      changed();
      li.querySelector(".group-mode").focus();
    });
    return box;
  }

  function groupRow(data) {
    const li = el("li", { className: "rule-row group-row" });
    li.dataset.kind = "group";
    const box = groupBox(data, false);
    const remove = button(`✕ ${t.removeGroup}`, "remove remove-group");
    box.querySelector(".group-head").append(remove);
    remove.addEventListener("click", () => {
      const parent = li.parentElement.closest(".rule-group");
      li.remove();
      changed();
      parent.querySelector(".add-group").focus();
    });
    li.append(box);
    return li;
  }

  function itemNode(item) {
    if (item && typeof item === "object" && !Array.isArray(item) && ("all" in item || "any" in item)) return groupRow(item);
    return conditionRow(item);
  }

  function readGroup(box) {
    const group = box._group;
    const items = [];
    for (const li of group.list.children) {
      if (li.dataset.kind === "group") items.push(readGroup(li.querySelector(".rule-group")));
      else items.push(readCondition(li._row));
    }
    return { [group.modeSelect.value]: items };
  }

  // --- actions --------------------------------------------------------------------------------------------------
  const NUMERIC = new Set(["member", "team", "policy", "response"]);

  function paramEditor(param, value) {
    const id = nextId("rule-param");
    const wrap = el("div", { className: `param param-${param.kind}` });
    let read;
    let node;
    if (NUMERIC.has(param.kind) || param.kind === "priority" || param.kind === "status") {
      node = select(spec.options[param.kind] || [], value, param.label, t.choose);
      node.id = id;
      read = () => readSelect(node, NUMERIC.has(param.kind));
      wrap.append(el("label", { for: id, text: param.label }), node);
    } else if (param.kind === "members" || param.kind === "teams") {
      node = checkboxes(spec.options[param.kind === "members" ? "member" : "team"] || [], value, param.label, true);
      node.querySelector("legend").className = "";
      read = () => readCheckboxes(node);
      wrap.append(node);
    } else if (param.kind === "bool") {
      node = el("input", { type: "checkbox", id });
      node.checked = Boolean(value);
      read = () => node.checked;
      wrap.append(el("label", { for: id, className: "check" }, [node, ` ${param.label}`]));
    } else if (param.kind === "note") {
      node = el("textarea", { id, rows: 3 });
      node.value = asText(value, "\n");
      read = () => node.value;
      wrap.append(el("label", { for: id, text: param.label }), node);
    } else if (param.kind === "tags") {
      node = el("input", { type: "text", id, value: asText(value, ", ") });
      read = () => splitList(node.value);
      wrap.append(el("label", { for: id, text: param.label }), node);
    } else {
      node = el("input", { type: param.kind === "url" ? "url" : "text", id, value: asText(value, ""), spellcheck: "false" });
      read = () => node.value;
      wrap.append(el("label", { for: id, text: param.label }), node);
    }
    return { name: param.name, wrap, read, node };
  }

  function actionRow(data) {
    data = data && typeof data === "object" && !Array.isArray(data) ? data : { raw: data };
    const li = el("li", { className: "rule-row action-row" });
    li.dataset.kind = "action";
    const typeSelect = select(
      spec.actions.map((a) => ({ value: a.type, label: a.label })),
      data.type,
      t.action,
      t.chooseAction,
      "action-type",
    );
    const up = button("↑", "move", t.moveUp);
    const down = button("↓", "move", t.moveDown);
    const remove = button("✕", "remove", t.removeAction);
    const params = el("div", { className: "action-params" });
    const errors = errorNode();
    li.append(el("div", { className: "action-line" }, [typeSelect, up, down, remove]), params, errors);
    const row = { li, typeSelect, editors: [], errors, raw: data };
    li._row = row;
    function renderParams(values) {
      const action = actionSpecs.get(typeSelect.value);
      row.editors = action ? action.params.map((p) => paramEditor(p, values[p.name])) : [];
      params.replaceChildren(...row.editors.map((e) => e.wrap));
    }
    renderParams(data);
    typeSelect.addEventListener("change", () => {
      // Parameters with the same name (a team, a priority) carry over to the new kind of action.
      const carried = {};
      for (const editor of row.editors) carried[editor.name] = editor.read();
      renderParams(carried);
    });
    up.addEventListener("click", () => {
      if (li.previousElementSibling) li.parentElement.insertBefore(li, li.previousElementSibling);
      changed();
      up.focus();
    });
    down.addEventListener("click", () => {
      if (li.nextElementSibling) li.parentElement.insertBefore(li.nextElementSibling, li);
      changed();
      down.focus();
    });
    remove.addEventListener("click", () => {
      li.remove();
      changed();
      actRoot.querySelector(".add-action").focus();
    });
    return li;
  }

  function readAction(row) {
    const type = row.typeSelect.value;
    if (!actionSpecs.has(type) && type !== "" && row.raw && row.raw.type === type) return row.raw;
    const out = { type: readSelect(row.typeSelect) ?? "" };
    for (const editor of row.editors) out[editor.name] = editor.read();
    return out;
  }

  function buildActions(actions) {
    actionList = el("ol", { className: "rule-items action-items", id: "rule-path-actions" });
    actionErrors = errorNode();
    for (const action of Array.isArray(actions) ? actions : []) actionList.append(actionRow(action));
    const add = button(`+ ${t.addAction}`, "add-action");
    add.addEventListener("click", () => {
      const li = actionRow({});
      actionList.append(li);
      changed();
      li.querySelector("select").focus();
    });
    actRoot.replaceChildren(actionErrors, actionList, el("div", { className: "group-buttons" }, [add]));
  }

  function buildConditions(conditions) {
    rootGroup = groupBox(conditions, true);
    condRoot.replaceChildren(rootGroup);
  }

  // --- JSON in and out ------------------------------------------------------------------------------------------
  function serialize() {
    if (!active || !dirty) return;
    condInput.value = JSON.stringify(readGroup(rootGroup));
    actInput.value = JSON.stringify([...actionList.children].map((li) => readAction(li._row)));
  }

  function changed() {
    dirty = true;
    serialize();
  }

  function parse(text, fallback) {
    return text.trim() ? JSON.parse(text) : fallback;
  }

  function broken(root) {
    active = false;
    root.replaceChildren(el("p", { className: "notice danger", role: "alert", text: t.jsonBroken }));
    document.getElementById("rule-json").open = true;
  }

  // --- errors next to their rows --------------------------------------------------------------------------------
  function show(node, messages, invalid) {
    node.textContent = messages.join(" ");
    node.hidden = messages.length === 0;
    for (const control of invalid) {
      if (!control) continue;
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", node.id);
    }
  }

  function applyErrors(errors) {
    if (!active) return;
    form.querySelectorAll(".row-error").forEach((n) => {
      n.hidden = true;
      n.textContent = "";
    });
    form.querySelectorAll(".rule-builder [aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
    const keys = Object.keys(errors || {});
    const anchor = (path) => `rule-path-${path.replaceAll(".", "-")}`;

    function walk(box, path) {
      const group = box._group;
      const mode = group.modeSelect.value;
      box.id = anchor(path);
      const own = keys.filter((k) => k === path || k === `${path}.${mode}`);
      show(group.errors, own.map((k) => errors[k]), own.length ? [group.modeSelect] : []);
      [...group.list.children].forEach((li, i) => {
        const itemPath = `${path}.${mode}.${i}`;
        if (li.dataset.kind === "group") {
          li.id = "";
          walk(li.querySelector(".rule-group"), itemPath);
          return;
        }
        const row = li._row;
        li.id = anchor(itemPath);
        const mine = keys.filter((k) => k === itemPath || k.startsWith(`${itemPath}.`));
        const invalid = mine.map((k) => {
          const part = k.slice(itemPath.length + 1);
          if (part === "field") return row.fieldSelect;
          if (part === "op") return row.opSelect;
          if (part === "key") return row.editor && row.editor.keyNode;
          if (part === "value") return row.editor && row.editor.valueNode;
          return row.fieldSelect;
        });
        show(row.errors, mine.map((k) => errors[k]), invalid);
        li.classList.toggle("has-error", mine.length > 0);
      });
    }
    walk(rootGroup, "conditions");

    show(actionErrors, keys.filter((k) => k === "actions").map((k) => errors[k]), []);
    [...actionList.children].forEach((li, i) => {
      const path = `actions.${i}`;
      const row = li._row;
      li.id = anchor(path);
      const mine = keys.filter((k) => k === path || k.startsWith(`${path}.`));
      const invalid = mine.map((k) => {
        const name = k.slice(path.length + 1);
        const editor = row.editors.find((e) => e.name === name);
        return editor ? editor.node : row.typeSelect;
      });
      show(row.errors, mine.map((k) => errors[k]), invalid);
      li.classList.toggle("has-error", mine.length > 0);
    });
  }

  // --- start ----------------------------------------------------------------------------------------------------
  function start() {
    try {
      buildConditions(parse(condInput.value, { all: [] }));
    } catch (e) {
      broken(condRoot);
    }
    try {
      buildActions(parse(actInput.value, []));
    } catch (e) {
      broken(actRoot);
    }
    if (!rootGroup || !actionList) return;
    active = true;
    const details = document.getElementById("rule-json");
    if (details && !details.querySelector(".has-error")) details.open = false;
    const summary = document.getElementById("rule-summary");
    if (summary) summary.hidden = true; // the builders show the same, and stay current while editing
    applyErrors(JSON.parse(document.getElementById("rule-errors").textContent || "{}"));
  }

  for (const root of [condRoot, actRoot]) {
    root.addEventListener("input", (event) => {
      const row = event.target.closest(".rule-row");
      if (row && row._row) row._row.errors.hidden = true; // the admin is fixing it
      changed();
    });
    root.addEventListener("change", changed);
  }
  // Hand-edited JSON: the builders follow when it reads, and step aside (without touching it) when it does not.
  for (const [input, root] of [
    [condInput, condRoot],
    [actInput, actRoot],
  ]) {
    input.addEventListener("change", () => {
      let value;
      try {
        value = parse(input.value, input === condInput ? { all: [] } : []);
      } catch (e) {
        broken(root);
        return;
      }
      if (root === condRoot) buildConditions(value);
      else buildActions(value);
      if (rootGroup && actionList) active = true;
      dirty = false;
    });
  }
  form.addEventListener("submit", serialize, true);
  form.addEventListener("click", serialize, true); // before htmx collects the form for the dry run
  document.addEventListener("htmx:afterSwap", (event) => {
    const node = document.getElementById("dry-run-errors");
    if (!node || !event.detail.target || event.detail.target.id !== "dry-run") return;
    applyErrors(JSON.parse(node.textContent || "{}"));
    // The summary of the last save is stale now: the dry run's own answer lists what is still wrong.
    const summary = document.getElementById("rule-error-summary");
    if (summary) summary.hidden = true;
  });
  start();
})();
