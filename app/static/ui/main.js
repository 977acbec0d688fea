// Starts the page's view (the shell's <body data-view>) and asks for a token when the API
// answers 401.

import { token, whenUnauthorized } from "./api.js";
import { main, notice } from "./dom.js";
import { showCompare } from "./compare.js";
import { showJob } from "./job.js";
import { showJobs } from "./jobs.js";
import { showNew } from "./new.js";
import { showModel, showModels } from "./models.js";
import { showSweep, showSweeps } from "./sweep.js";

const VIEWS = { jobs: showJobs, job: showJob, compare: showCompare, new: showNew, sweeps: showSweeps, sweep: showSweep, models: showModels, model: showModel };

function askForToken(error) {
  const form = document.getElementById("token-form");
  if (!form.hidden) return;
  const message = document.getElementById("token-error");
  if (token.get()) {
    message.textContent = `That token was refused (${error.message}). Paste another one.`;
    message.hidden = false;
    token.forget();
  }
  main().hidden = true;
  form.hidden = false;
  document.getElementById("token-input").focus();
}

function setUpToken() {
  const form = document.getElementById("token-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = document.getElementById("token-input").value.trim();
    if (!value) return;
    token.set(value);
    location.reload();
  });
  const forget = document.getElementById("forget-token");
  forget.hidden = !token.get();
  forget.addEventListener("click", () => {
    token.forget();
    location.reload();
  });
  whenUnauthorized(askForToken);
}

async function start() {
  setUpToken();
  const view = document.body.dataset.view;
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === view) link.setAttribute("aria-current", "page");
  }
  try {
    await VIEWS[view]();
  } catch (error) {
    if (error.status !== 401) notice(error.message);
  }
}

start();
