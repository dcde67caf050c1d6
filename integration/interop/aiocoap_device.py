"""A minimal LwM2M device on aiocoap + tinydtls (DTLSSocket): an independent CoAP/DTLS stack
for the interoperability tests. It registers over coaps:// with a PSK, prints
`registered <location>`, then answers GET /3/0/0 (text/plain) over the same DTLS session until
it is killed.

usage: aiocoap_device.py <host:port> <endpoint> <psk-identity> <psk-key-hex>
"""

import asyncio
import sys

import aiocoap
import aiocoap.resource as resource
from aiocoap.numbers.codes import Code


class Manufacturer(resource.Resource):
    async def render_get(self, request):
        return aiocoap.Message(code=Code.CONTENT, payload=b"aiocoap-tinydtls", content_format=0)


async def main():
    server, endpoint, identity, key_hex = sys.argv[1:5]
    site = resource.Site()
    site.add_resource(["3", "0", "0"], Manufacturer())
    ctx = await aiocoap.Context.create_client_context()
    # Requests the server sends over the client's DTLS session are served by this site.
    ctx.serversite = site
    ctx.client_credentials.load_from_dict(
        {
            f"coaps://{server}/*": {
                "dtls": {
                    "psk": bytes.fromhex(key_hex),
                    "client-identity": identity.encode(),
                }
            }
        }
    )
    register = aiocoap.Message(
        code=Code.POST,
        uri=f"coaps://{server}/rd?ep={endpoint}&lt=120&lwm2m=1.1&b=U",
        payload=b"</1/0>,</3/0>",
        content_format=40,
    )
    response = await ctx.request(register).response
    if response.code != Code.CREATED:
        print(f"refused {response.code}", flush=True)
        sys.exit(1)
    print("registered /" + "/".join(response.opt.location_path), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
