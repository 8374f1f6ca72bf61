"""A cart's timer: the event that sets it and the one it sends (source k2k.orders, as every cart event).

Their own module, not k2k.orders: the cart timer function validates them at every cart's opening, and
k2k.orders (with the inventory, network and procurement models it is made of) was a third of that
function's init. k2k.orders names them too.
"""

from datetime import datetime

from k2k.events import event_type
from k2k.models import Model


@event_type("k2k.orders", "CartOpened")
class CartOpened(Model):
    """A cart was opened; its timer must expire it at expires_at unless it is checked out first."""

    buyer_company_id: str
    cart_id: str
    expires_at: datetime


@event_type("k2k.orders", "CartTimerElapsed")
class CartTimerElapsed(Model):
    """A cart's timer went off (sent by the scheduler at expires_at)."""

    buyer_company_id: str
    cart_id: str
