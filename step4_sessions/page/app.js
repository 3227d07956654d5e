// Step 4's page. Every request is a same-origin fetch, every body JSON: the browser adds the
// session cookie by itself, and this script never sees it (HttpOnly).
"use strict";

const $ = (id) => document.getElementById(id);

// One request to the API: {status, data}, data being the JSON answer (null for a 204).
async function call(method, path, body) {
  const options = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    logRequest(`${method} ${path} → no answer`);
    return { status: 0, data: { message: "The server did not answer: is flask run still running?" } };
  }
  const data = await response.json().catch(() => null);
  logRequest(`${method} ${path} → ${response.status}`);
  return { status: response.status, data };
}

let requestsSent = 0;

function logRequest(line) {
  const item = document.createElement("li");
  item.value = ++requestsSent; // the newest on top, numbered in the order they were sent
  item.textContent = line;
  $("request-log").prepend(item);
  while ($("request-log").children.length > 8) $("request-log").lastChild.remove();
}

function say(text) {
  $("message").textContent = text;
}

// textContent everywhere, never innerHTML: a to-do titled <script> stays text.
async function showSession() {
  const { status, data } = await call("GET", "/session");
  const loggedIn = status === 200;
  if (status === 0) say(data.message);
  $("who").textContent = loggedIn ? `Logged in as ${data.username}` : "Not logged in";
  $("credentials").hidden = loggedIn;
  $("logout").hidden = !loggedIn;
  $("todos").hidden = !loggedIn;
  showCookie(loggedIn);
  if (loggedIn) await showTodos();
}

async function showTodos() {
  const { status, data } = await call("GET", "/session/todos");
  const list = $("todo-list");
  list.replaceChildren();
  if (status !== 200) return say(data?.message ?? `GET /session/todos answered ${status}`);
  for (const todo of data) {
    const item = document.createElement("li");
    item.textContent = `${todo.done ? "☑" : "☐"} ${todo.title}`;
    list.append(item);
  }
  if (data.length === 0) {
    const item = document.createElement("li");
    item.textContent = "None yet. To-dos are written with a token: POST /todos (see step 3).";
    list.append(item);
  }
}

function showCookie(loggedIn) {
  const visible = document.cookie;
  $("document-cookie").textContent = JSON.stringify(visible);
  if (/(^|;\s*)session=/.test(visible)) {
    $("cookie-verdict").textContent = "The script CAN read the session cookie: HttpOnly is off!";
  } else if (loggedIn) {
    $("cookie-verdict").textContent =
      "You are logged in, so the browser holds a session cookie, yet document.cookie does not " +
      "show it: the cookie is HttpOnly, out of reach of this script and of any injected one.";
  } else {
    $("cookie-verdict").textContent = "Not logged in: the browser holds no session cookie.";
  }
}

async function submitCredentials(event) {
  event.preventDefault();
  const form = event.target;
  const credentials = { username: form.elements.username.value, password: form.elements.password.value };
  if (event.submitter?.value === "register") {
    const { status, data } = await call("POST", "/register", credentials);
    say(status === 201 ? `Registered ${data.username}. Now log in.` : data?.message ?? `Error ${status}`);
    return;
  }
  const { status, data } = await call("POST", "/session", credentials);
  form.elements.password.value = "";
  say(status === 200 ? "The server answered with Set-Cookie; the browser keeps the cookie." : data?.message ?? `Error ${status}`);
  await showSession();
}

async function logOut() {
  const { status } = await call("DELETE", "/session");
  say(status === 204 ? "Logged out: the server told the browser to delete the cookie." : `Error ${status}`);
  await showSession();
}

$("credentials").addEventListener("submit", submitCredentials);
$("logout").addEventListener("click", logOut);
$("reload").addEventListener("click", showTodos);
showSession();
