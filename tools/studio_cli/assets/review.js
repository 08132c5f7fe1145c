// studio review: the review page's script (served by the CLI itself, no CDN).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("review-data").textContent);
  var nextLink = document.getElementById("next");
  if (data.page === "home") {
    document.addEventListener("keydown", function (e) { if (e.key === "n" && data.next) { location.href = data.next; } });
    return;
  }
  var choices = {};   // label -> {action: "approve"|"reject"|"retry", images: [n], reason: "..."}
  var picked = {};    // label -> [n]
  var focus = 0, reasonFor = null, sent = false;
  var typesEl = document.getElementById("types"), sendEl = document.getElementById("send");
  var summaryEl = document.getElementById("summary"), noticeEl = document.getElementById("notice");
  if (data.next) { nextLink.href = data.next; } else { nextLink.href = "/"; }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  data.inputs.forEach(function (input) {
    var fig = el("figure"); fig.appendChild(el("img", {src: input.src, alt: input.name}));
    fig.appendChild(el("figcaption", {}, input.name)); document.getElementById("inputs").appendChild(fig);
  });

  function render() {
    typesEl.innerHTML = "";
    data.types.forEach(function (type, index) {
      var choice = choices[type.label];
      var card = el("section", {"class": "type" + (index === focus ? " focused" : ""), "data-type": type.label, "data-index": index});
      var h = el("h3", {}, type.label + " ");
      h.appendChild(el("span", {"class": "chip"}, type.kind.replace("_", "-")));
      var state = choice ? choice.action : type.state;
      var label = choice ? ({approve: "approve #" + choice.images.join(", #"), reject: "reject: " + choice.reason, retry: "retry"})[choice.action]
                         : ({approved: "approved #" + type.approved.join(", #"), failed: "failed: no images", pending: "to decide"})[type.state];
      h.appendChild(el("span", {"class": "chip " + state, "data-choice": choice ? choice.action : ""}, label));
      card.appendChild(h);
      if (type.rejected_because && !choice) { card.appendChild(el("div", {"class": "hint"}, "rejected before: " + type.rejected_because)); }
      var tiles = el("div", {"class": "tiles"});
      type.images.forEach(function (image) {
        if (!image.src) { return; }
        var isPicked = (picked[type.label] || []).indexOf(image.n) >= 0;
        var isApproved = choice ? (choice.action === "approve" && choice.images.indexOf(image.n) >= 0) : type.approved.indexOf(image.n) >= 0;
        var tile = el("figure", {"class": "tile" + (isPicked ? " picked" : "") + (isApproved ? " approved" : ""), "data-n": image.n});
        tile.appendChild(el("img", {src: image.thumb, alt: type.label + " #" + image.n}));
        tile.appendChild(el("span", {"class": "n"}, "#" + image.n));
        if (image.new) { tile.appendChild(el("span", {"class": "badge"}, "new")); }
        var cap = el("figcaption", {}, (image.round ? "round " + image.round : "first round") + " · v" + image.variant + (image.size ? " · " + image.size : ""));
        if (image.error) { cap.appendChild(el("div", {"class": "problem"}, image.error)); }
        tile.appendChild(cap);
        tile.addEventListener("click", function (e) { focus = index; pick(type.label, image.n, e.shiftKey || e.ctrlKey || e.metaKey); });
        tiles.appendChild(tile);
      });
      card.appendChild(tiles);
      if (!type.images.some(function (i) { return i.src; })) { card.appendChild(el("div", {"class": "hint"}, "No image: its operation failed. Retry makes a new operation for this type (t).")); }
      var buttons = el("div", {"class": "buttons"});
      [["approve", "Approve (a)"], ["reject", "Reject (r)"], ["retry", "Retry (t)"], ["undo", "Undo (u)"]].forEach(function (b) {
        var button = el("button", {type: "button", "data-action": b[0]}, b[1]);
        button.addEventListener("click", function () { focus = index; act(b[0]); });
        buttons.appendChild(button);
      });
      card.appendChild(buttons);
      card.addEventListener("click", function () { if (focus !== index) { focus = index; render(); } });
      typesEl.appendChild(card);
    });
    summarise();
  }

  function summarise() {
    var labels = Object.keys(choices);
    var approve = labels.filter(function (l) { return choices[l].action === "approve"; }).length;
    var reject = labels.filter(function (l) { return choices[l].action === "reject"; }).length;
    var retry = labels.filter(function (l) { return choices[l].action === "retry"; }).length;
    sendEl.disabled = sent || labels.length === 0 || !data.awaiting && (reject + retry) > 0 || data.status !== "AWAITING_REVIEW" && !data.ended;
    if (labels.length) {
      summaryEl.textContent = approve + " to approve, " + reject + " to reject, " + retry + " to retry" +
        ((reject + retry) ? " (new images are made and come back here)" : " (then published)") + ". Enter sends.";
    }
  }

  function pick(label, n, add) {
    var list = picked[label] || [];
    var at = list.indexOf(n);
    if (at >= 0) { list.splice(at, 1); } else if (add) { list.push(n); } else { list = [n]; }
    picked[label] = list; render();
  }

  function act(action) {
    var type = data.types[focus];
    if (!type) { return; }
    var available = type.images.filter(function (i) { return i.src; }).map(function (i) { return i.n; });
    if (action === "approve") {
      var images = (picked[type.label] || []).slice().sort();
      if (!images.length && available.length) { images = [available[available.length - 1]]; }
      if (!images.length) { return notice("Nothing to approve: " + type.label + " has no image.", true); }
      choices[type.label] = {action: "approve", images: images}; advance();
    } else if (action === "reject") {
      if (!available.length) { return notice(type.label + " has no image to reject: retry it (t).", true); }
      openReasons(type.label);
    } else if (action === "retry") {
      if (available.length) { return notice(type.label + " has images: reject it (r) to make it again.", true); }
      choices[type.label] = {action: "retry"}; advance();
    } else if (action === "undo") {
      delete choices[type.label]; delete picked[type.label]; render();
    }
  }

  function advance() { if (focus < data.types.length - 1) { focus += 1; } render(); scrollToFocus(); }
  function scrollToFocus() { var card = typesEl.children[focus]; if (card && card.scrollIntoView) { card.scrollIntoView({block: "nearest"}); } }

  var reasonsEl = document.getElementById("reasons"), reasonText = document.getElementById("reason-text");
  data.reasons.forEach(function (reason, i) {
    var li = el("li", {"data-reason": reason}, reason);
    li.addEventListener("click", function () { reject(reason); });
    document.getElementById("reason-list").appendChild(li);
  });
  function openReasons(label) { reasonFor = label; document.getElementById("reason-type").textContent = label; reasonsEl.hidden = false; reasonText.value = ""; }
  function closeReasons() { reasonFor = null; reasonsEl.hidden = true; }
  function reject(reason) { choices[reasonFor] = {action: "reject", reason: reason}; closeReasons(); advance(); }
  reasonText.addEventListener("keydown", function (e) {
    e.stopPropagation();
    if (e.key === "Enter" && reasonText.value.trim()) { reject(reasonText.value.trim()); }
    if (e.key === "Escape") { closeReasons(); }
  });

  function notice(text, bad) { noticeEl.hidden = false; noticeEl.textContent = text; noticeEl.className = "notice" + (bad ? " error" : ""); }

  function send() {
    if (sendEl.disabled) { return; }
    var decision = {approve: {}, reject: {}, retry: [], round: data.round};
    var retried = {};
    Object.keys(choices).forEach(function (label) {
      var c = choices[label], type = data.types.filter(function (t) { return t.label === label; })[0];
      if (c.action === "approve") { decision.approve[label] = c.images; }
      if (c.action === "reject") { decision.reject[label] = c.reason; }
      if (c.action === "retry") { retried[type.kind] = true; }
    });
    decision.retry = Object.keys(retried);
    sent = true; summarise();
    fetch("/api/job/" + encodeURIComponent(data.job_id) + "/decision", {
      method: "POST", headers: {"Content-Type": "application/json", "X-Review-Token": data.csrf}, body: JSON.stringify(decision)
    }).then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); }).then(function (answer) {
      if (!answer.ok) { sent = false; summarise(); return notice(answer.body.error || "the decision was not written", true); }
      document.body.setAttribute("data-decision", answer.body.key);
      notice("Decision written (" + answer.body.what + "; pays " + answer.body.quote.operations + " operation(s), " +
             answer.body.quote.images + " image(s)). Waiting for the pipeline…");
      watch();
    });
  }

  function watch() {
    var started = Date.now();
    (function poll() {
      fetch("/api/job/" + encodeURIComponent(data.job_id)).then(function (r) { return r.json(); }).then(function (job) {
        var moved = job.review_round !== data.round || job.status !== data.status;
        if (job.status === "AWAITING_REVIEW" && job.review_round !== data.round) { return location.reload(); }
        if (job.ended && moved) {
          document.body.setAttribute("data-status", job.status);
          return notice("Done: " + job.status + ". Published " + job.published.length + " image(s): " + job.published.join(", "));
        }
        if (data.ended && job.published.length && job.published_at !== data.published_at) {
          return notice("Published " + job.published.length + " image(s): " + job.published.join(", "));
        }
        if (Date.now() - started < 600000) { setTimeout(poll, 1000); }
      });
    })();
  }

  document.addEventListener("keydown", function (e) {
    if (e.target && e.target.tagName === "INPUT") { return; }
    if (e.key === "Escape") { closeReasons(); document.getElementById("help").hidden = true; return; }
    if (reasonFor !== null) {
      var n = parseInt(e.key, 10);
      if (n >= 1 && n <= data.reasons.length) { reject(data.reasons[n - 1]); }
      else if (e.key === "Enter") { reasonText.focus(); }
      e.preventDefault(); return;
    }
    var type = data.types[focus];
    if (/^[1-9]$/.test(e.key) && type) { pick(type.label, parseInt(e.key, 10), e.shiftKey); }
    else if (e.key === "a") { act("approve"); }
    else if (e.key === "r") { act("reject"); }
    else if (e.key === "t") { act("retry"); }
    else if (e.key === "u") { act("undo"); }
    else if (e.key === "j" || e.key === "ArrowDown") { focus = Math.min(focus + 1, data.types.length - 1); render(); scrollToFocus(); }
    else if (e.key === "k" || e.key === "ArrowUp") { focus = Math.max(focus - 1, 0); render(); scrollToFocus(); }
    else if (e.key === "Enter") { send(); }
    else if (e.key === "n") { location.href = nextLink.href; }
    else if (e.key === "?") { document.getElementById("help").hidden = false; }
    else { return; }
    e.preventDefault();
  });
  sendEl.addEventListener("click", send);
  if (data.ended) { notice(data.published.length ? "This job has ended; published: " + data.published.join(", ") + ". Approving again republishes." : "This job has ended without review: approving its images publishes them."); }
  render();
})();
