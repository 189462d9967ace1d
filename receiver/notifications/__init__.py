"""Where notifications go: a Standard Webhooks receiver and SMTP, each a channel with one ``send``.

    jobs/notify.py ──▶ Notifiers (built once from the settings) ──▶ webhook: post_checked (SSRF rules)
                                                                 └─▶ mail: SMTP to the pinned, checked address

Both channels reach their host under the archive download's rules (``receiver.fetching``:
every host resolved once, its address checked and connected to; loopback and private
addresses only for ``NOTIFY_PRIVATE_HOSTS``). A failure is ``NotifyError`` with a fixed
``reason`` and a message naming the channel, the failure class and the destination's
origin, never a webhook URL's path or query, which may hold a token.
"""

from receiver.notifications.channels import Notifiers, build_notifiers
from receiver.notifications.errors import NotifyError

__all__ = ["Notifiers", "NotifyError", "build_notifiers"]
