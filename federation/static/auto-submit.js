// Submits a SAML form straight away; without JavaScript the citizen presses its button.
(function () {
  var form = document.querySelector('form[data-auto-submit="true"]');
  if (form) { form.submit(); }
})();
