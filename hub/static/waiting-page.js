// The hub's waiting page ("We are checking your details"), with JavaScript.
//
// Rather than reload the page until the matching service has answered (a reload moves focus back to the top and
// has a screen reader read the page again), ask the hub, every few seconds, whether it has answered, and go to
// the page it names when it has. Progress and the result are told through the page's one live region
// (#waiting-status, role="status"). Without JavaScript the page reloads itself (its <noscript> meta refresh).
//
// The words are the page's, in the citizen's language (English or Welsh): its data-say-* attributes, one for each
// thing the script says; "{seconds}" in data-say-still-checking is replaced by the seconds waited so far.
(function () {
  'use strict'

  var page = document.getElementById('waiting-page')
  var region = document.getElementById('waiting-status')
  if (!page || !region) return

  var pageUrl = page.getAttribute('data-page-url')
  var statusUrl = page.getAttribute('data-status-url')
  var pollMs = 1000 * Number(page.getAttribute('data-poll-seconds') || 2)
  var finished = page.getAttribute('data-say-finished') || ''
  var stillChecking = page.getAttribute('data-say-still-checking') || ''
  var cannotCheck = page.getAttribute('data-say-cannot-check') || ''
  var progressMs = 5000 // at most one "still checking" this often: enough to know it is alive, not chatter
  var pauseMs = 1000 // after saying where we are going, so the words are heard before the page changes
  var failuresAllowed = 5 // polls in a row that reach no one before we say so and stop

  if (!window.fetch || !window.Promise || !window.JSON) {
    // A browser too old to ask quietly: reload, as the page does without JavaScript.
    window.setTimeout(function () { window.location.replace(pageUrl) }, pollMs)
    return
  }

  var started = Date.now()
  var lastTold = started
  var failures = 0

  function tell (words) {
    if (words) region.textContent = words
  }

  function isOurs (url) {
    // Only a path on the hub itself: never another site, even if the answer were tampered with.
    return typeof url === 'string' && url.charAt(0) === '/' && url.charAt(1) !== '/' && url.charAt(1) !== '\\'
  }

  function goTo (url) {
    tell(finished)
    window.setTimeout(function () { window.location.replace(url) }, pauseMs)
  }

  function heard (body) {
    failures = 0
    if (body && body.answered) {
      goTo(isOurs(body.next) ? body.next : pageUrl)
      return
    }
    var now = Date.now()
    if (now - lastTold >= progressMs) {
      lastTold = now
      tell(stillChecking.replace('{seconds}', String(Math.round((now - started) / 1000))))
    }
    window.setTimeout(poll, pollMs)
  }

  function notHeard () {
    failures += 1
    if (failures >= failuresAllowed) {
      tell(cannotCheck)
      return
    }
    window.setTimeout(poll, pollMs)
  }

  function poll () {
    window.fetch(statusUrl, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (!response.ok) {
          // The hub has a page for this (the journey has gone, say, or the service is unavailable): show it.
          window.location.replace(pageUrl)
          return null
        }
        return response.json().then(heard)
      })
      .catch(notHeard)
  }

  window.setTimeout(poll, pollMs)
})()
