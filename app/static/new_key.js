// A page that shows a key once (a new key's, a new account's): the key is kept in this browser, as signing in on the map page keeps it.
document.addEventListener("DOMContentLoaded", () => {
  const open = document.getElementById("open-map");
  if (!open) return;
  open.addEventListener("click", () => {
    localStorage.setItem("nook.apiKey", open.dataset.key);
    window.location.assign(open.dataset.href);
  });
});
