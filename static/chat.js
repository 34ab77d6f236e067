// caredesk web chat: upgrades the plain form to a WebSocket conversation.
// Without this script the form posts to the server and the page shows the whole transcript.
// Text from anyone is only ever set with textContent: nothing is parsed as HTML.
"use strict";

(function () {
  const form = document.getElementById("chat-form");
  if (!form) {
    return; // the page shows only a reference: nothing to chat with
  }
  const lines = document.getElementById("lines");
  const log = document.getElementById("log");
  const box = document.getElementById("message");
  const choices = document.getElementById("choices");
  const status = document.getElementById("connection");
  const warning = document.getElementById("idle-warning");
  const stay = document.getElementById("stay");
  const idleSeconds = Number(document.body.dataset.idleSeconds || 1800);
  const warnSeconds = Number(document.body.dataset.warnSeconds || 120);
  let socket = null;
  let retry = 1000;
  let idleTimer = null;

  function add(who, text) {
    const item = document.createElement("li");
    item.className = "msg " + (who === "resident" ? "from-you" : "from-city");
    const label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = who === "resident" ? "You said:" : "City:";
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.append(label, " ", body);
    lines.append(item);
    log.scrollTop = log.scrollHeight;
  }

  function showChoices(list) {
    choices.replaceChildren();
    for (const choice of list) {
      const button = document.createElement("button");
      button.type = "submit";
      button.name = "text";
      button.value = choice;
      button.textContent = choice;
      choices.append(button);
    }
    choices.hidden = list.length === 0;
  }

  function armIdle() {
    clearTimeout(idleTimer);
    warning.hidden = true;
    const wait = Math.max(1, idleSeconds - warnSeconds) * 1000;
    idleTimer = setTimeout(function () {
      warning.hidden = false;
      stay.focus();
    }, wait);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws");
    socket.addEventListener("open", function () {
      retry = 1000;
      status.textContent = "";
    });
    socket.addEventListener("message", function (event) {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (message.type === "replies") {
        let last = [];
        for (const reply of message.replies) {
          add("city", reply.text);
          last = reply.choices || [];
        }
        showChoices(last);
      } else if (message.type === "session") {
        // a new session was started for this page: its forms carry the new token
        for (const field of document.querySelectorAll("input[name=csrf]")) {
          field.value = message.csrf;
        }
      } else if (message.type === "error") {
        add("city", message.text);
      }
    });
    socket.addEventListener("close", function () {
      socket = null;
      status.textContent = "Reconnecting…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
  }

  function ready() {
    return socket !== null && socket.readyState === WebSocket.OPEN;
  }

  form.addEventListener("submit", function (event) {
    if (!ready()) {
      return; // the plain form post still works
    }
    event.preventDefault();
    const submitter = event.submitter;
    const fromChoice = submitter && submitter.name === "text";
    const text = fromChoice ? submitter.value : box.value;
    if (!text.trim()) {
      box.focus();
      return;
    }
    add("resident", text);
    socket.send(JSON.stringify({ type: "say", text: text }));
    if (!fromChoice) {
      box.value = "";
    }
    showChoices([]);
    box.focus();
    armIdle();
  });

  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit(document.getElementById("send"));
    }
  });

  warning.querySelector("form").addEventListener("submit", function (event) {
    if (!ready()) {
      return;
    }
    event.preventDefault();
    socket.send(JSON.stringify({ type: "stay" }));
    armIdle();
    box.focus();
  });

  document.getElementById("keys-hint").textContent =
    "Press Enter to send, Shift and Enter for a new line.";
  log.scrollTop = log.scrollHeight;
  armIdle();
  connect();
})();
