// The copy button beside a subject's new link: copies the link without showing it anywhere else.
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  button.hidden = false;
  button.addEventListener("click", function () {
    var field = document.getElementById(button.dataset.copy);
    navigator.clipboard.writeText(field.value).then(function () {
      button.textContent = "Copied";
    }, function () {
      field.select();
    });
  });
});
