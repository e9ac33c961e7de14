"""supervisord extensions for kres-manager.

Loaded by supervisord through an rpcinterface section::

    [rpcinterface:kres]
    supervisor.rpcinterface_factory = kres_supervisord_ext:make_rpcinterface
    notify_programs = kresd:* manager
    manager_program = manager

See README.md for every setting and the ``kres.*`` XML-RPC contract.
"""

__version__ = "0.1.0"


def make_rpcinterface(supervisord, **config):
    """supervisord rpcinterface factory: installs the extensions, returns the kres namespace.

    Called by supervisord once per configured HTTP server, after the process groups exist
    and before the main loop starts; the extensions are installed on the first call.
    """
    from .core import make_extension
    from .rpc import KresRPCInterface

    ext = make_extension(supervisord, config)
    return KresRPCInterface(ext)
