-- Takes this kresd out of service without losing a query it has, UDP or TCP. Run once by
-- kres-manager over the control socket before it stops a worker (or the canary); the work goes
-- on in a timer inside kresd (every millisecond), and `kres_manager_drain_status()` tells the
-- manager how far it got. The same on kresd 5.6 and 6.x: it uses only what both have.
--
-- 1. UDP: each UDP listener socket is connect()ed to a peer that never sends (127.0.0.1 or ::1,
--    port 9). The kernel's SO_REUSEPORT selection skips connected sockets, so new queries go to
--    the other workers, while the datagrams already queued on these sockets are still read and
--    answered (closing a socket would drop its queue). The sockets stay open until the process
--    ends.
-- 2. TCP listeners (plain DNS, DoT, DoH) are closed, each once no connection waits in its accept
--    queue (closing a listener resets those): new connections go to the other workers. A
--    listener is closed by putting /dev/null on its descriptor (dup3): the socket goes, and the
--    event loop, which watched it, never hears of it again. kresd's own `net.close()` cannot be
--    used: it crashes kresd 6.5.0 on a TCP listener.
-- 3. From then on, clients that sent an edns-tcp-keepalive option get a timeout of 0 in their
--    answers (RFC 7828: close the connection), so they leave on their own, with nothing in
--    flight, and their new connections reach other workers. kresd's edns_keepalive module
--    cannot say 0 (libknot writes a timeout of 0 as an empty option, which RFC 7828 does not
--    allow in a response), so while draining this module's layer writes the option instead,
--    when the operator has edns_keepalive on.
-- 4. Each accepted TCP connection is shut down (both directions, so the client reads
--    end-of-file) only when nothing is in flight on it: no query of it in progress, nothing
--    unread in its receive queue, and no answer anywhere still waiting to be written. RFC 7766
--    lets a server close an idle connection; a client whose query crosses the close sends it
--    again on a new connection, which reaches another worker. A client that sent no keepalive
--    option is closed at its first idle moment; one that did, or has not asked anything since
--    the listeners closed, only after GRACE of silence: if it asks meanwhile, it is told to go
--    and leaves by itself, with nothing crossing a close.
-- 5. Done when no connection is left, nothing is in progress and the UDP queues are empty. The
--    manager stops the process then, or when its drain time is over, whichever comes first.
--
-- Queries in flight are counted per connection by a layer loaded here (begin and finish of every
-- request, keyed by the connection's peer address). Requests already in progress when it was
-- loaded are not known per connection: until kresd's own count of requests is no more than the
-- layer's (they have all finished), no connection is shut down.
-- It marks the worker drained (`kres_manager_drained`): a manager restarted before it stopped
-- the worker must not adopt it as a healthy one.
kres_manager_drained = true
if kres_manager_drain then return 'already draining' end

local ffi = require('ffi')
for _, declaration in ipairs({
	'int getsockname(int, void *, unsigned int *);',
	'int getpeername(int, void *, unsigned int *);',
	'int getsockopt(int, int, int, void *, unsigned int *);',
	'int connect(int, const void *, unsigned int);',
	'int shutdown(int, int);',
	'int ioctl(int, unsigned long, ...);',
	'int fcntl(int, int, ...);',
	'int open(const char *, int, ...);',
	'int dup3(int, int, int);',
	'uint8_t *knot_edns_get_option(const knot_rrset_t *, uint16_t, const uint8_t *);',
	'int knot_edns_add_option(knot_rrset_t *, uint16_t, uint16_t, const uint8_t *, knot_mm_t *);',
}) do
	pcall(ffi.cdef, declaration)
end
local C = ffi.C
local AF_INET, AF_INET6, SOL_SOCKET, SO_TYPE, SO_ACCEPTCONN = 2, 10, 1, 3, 30
local SOCK_STREAM, SOCK_DGRAM, SHUT_RDWR, FIONREAD, F_GETFD = 1, 2, 2, 0x541B, 1
local IPPROTO_TCP, TCP_INFO, O_CLOEXEC = 6, 11, 0x80000
local EDNS_TCP_KEEPALIVE = 11
-- How long a client that may hear "go" (step 4) is left to ask before it is closed, in ms.
local GRACE = 100

local function now()
	return tonumber(C.kr_now())
end

local drain = {
	phase = 'listening', -- then 'closing', then 'done' (or 'failed', with `error`)
	tracked = 0, -- requests begun since the layer was loaded and not finished
	udp = 0, -- of which over UDP (or internal)
	inflight = {}, -- connection key -> requests in progress on it
	clients = {}, -- connection key -> { keepalive = asked for it, last = when it last asked }
	begun = {}, -- request pointer -> its connection key (false: UDP or internal)
	all_tracked = false, -- every request in progress is one the layer saw begin
	udp_sockets = {},
	tcp_listeners = {}, -- { fd = descriptor, here = its address key }
	connections = {}, -- { fd, here, there, shut }
	keepalive = false, -- whether answers get a keepalive timeout of 0
	found = 0, -- connections open when the listeners were closed
	closed = 0, -- connections shut down when idle
	listeners_closed_at = nil, -- now() then
}
kres_manager_drain = drain

local sockaddr = ffi.new('uint8_t[128]')
local sockaddr_length = ffi.new('unsigned int[1]')
local value = ffi.new('int[1]')
local value_length = ffi.new('unsigned int[1]')

-- The family, port and address of a sockaddr, as a table key.
local function key_of(address)
	if address[0] == AF_INET then
		return ffi.string(address, 2) .. ffi.string(address + 2, 6)
	elseif address[0] == AF_INET6 then
		return ffi.string(address, 4) .. ffi.string(address + 8, 16)
	end
	return nil
end

local function port_of(address)
	return address[2] * 256 + address[3]
end

-- `getsockname` or `getpeername` of `fd` into `sockaddr`; whether it is an IP socket.
local function name(call, fd)
	sockaddr_length[0] = 128
	return call(fd, sockaddr, sockaddr_length) == 0 and (sockaddr[0] == AF_INET or sockaddr[0] == AF_INET6)
end

local function option(fd, which)
	value_length[0] = 4
	if C.getsockopt(fd, SOL_SOCKET, which, value, value_length) ~= 0 then return nil end
	return value[0]
end

-- Bytes waiting to be read on `fd` (for UDP: the size of the next datagram); nil on error.
local function unread(fd)
	if C.ioctl(fd, FIONREAD, value) ~= 0 then return nil end
	return value[0]
end

-- Connections waiting in the accept queue of the listening socket `fd` (TCP_INFO's tcpi_unacked
-- of a listener, a u32 at offset 24); nil on error.
local info = ffi.new('uint8_t[256]')
local info_length = ffi.new('unsigned int[1]')
local function waiting_to_be_accepted(fd)
	info_length[0] = 256
	if C.getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, info_length) ~= 0 or info_length[0] < 28 then return nil end
	return ffi.cast('uint32_t *', info + 24)[0]
end

-- Every open descriptor (they are allocated lowest first: stop after 1024 unused in a row).
local function descriptors()
	local fds, unused, fd = {}, 0, 0
	while unused < 1024 do
		if C.fcntl(fd, F_GETFD) >= 0 then
			table.insert(fds, fd)
			unused = 0
		else
			unused = unused + 1
		end
		fd = fd + 1
	end
	return fds
end

-- The ports of our listeners (the control socket is a unix one).
local ports = {}
for _, listener in ipairs(net.list()) do
	if listener.kind ~= 'control' and listener.transport.port then ports[listener.transport.port] = true end
end

-- The layer: requests in progress per connection, and "go" in the answers (step 3).
local function peer_key(req)
	if not req.qsource.flags.tcp then return false end
	-- comm_addr: the connection's peer even behind a PROXYv2 header.
	local address = req.qsource.comm_addr
	if address == nil then address = req.qsource.addr end
	if address == nil then return false end
	return key_of(ffi.cast('const uint8_t *', address)) or false
end
local function pointer(req)
	return tonumber(ffi.cast('intptr_t', req))
end
local function asks_keepalive(req)
	local query = req.qsource.packet
	return query ~= nil and query.opt_rr ~= nil
		and C.knot_edns_get_option(query.opt_rr, EDNS_TCP_KEEPALIVE, nil) ~= nil
end
local function begin(req)
	local key = peer_key(req)
	drain.begun[pointer(req)] = key
	drain.tracked = drain.tracked + 1
	if key then
		drain.inflight[key] = (drain.inflight[key] or 0) + 1
		drain.clients[key] = { keepalive = drain.keepalive and asks_keepalive(req), last = now() }
	else
		drain.udp = drain.udp + 1
	end
end
local function finish(req)
	local id = pointer(req)
	local key = drain.begun[id]
	if key == nil then return end -- begun before the layer was loaded
	drain.begun[id] = nil
	drain.tracked = drain.tracked - 1
	if key then
		drain.inflight[key] = drain.inflight[key] - 1
		if drain.inflight[key] == 0 then drain.inflight[key] = nil end
	else
		drain.udp = drain.udp - 1
	end
end
local zero = ffi.new('uint8_t[2]')
local function say_go(req)
	if drain.phase == 'listening' or not drain.keepalive then return end
	if not (req.qsource.flags.tcp and asks_keepalive(req)) then return end
	local answer = req.answer
	if answer == nil or answer.opt_rr == nil then return end
	C.knot_edns_add_option(answer.opt_rr, EDNS_TCP_KEEPALIVE, 2, zero, answer.mm)
end
-- A layer that fails would fail the request: whatever goes wrong here is kept to the drain.
local function guarded(count)
	return function(_, req)
		local ok, err = pcall(count, req)
		if not ok and not drain.error then drain.error = 'counting requests: ' .. tostring(err) end
	end
end
package.loaded['kres_modules.kres_manager_drain_layer'] = {
	layer = { begin = guarded(begin), finish = guarded(finish), answer_finalize = guarded(say_go) },
}
modules.load('kres_manager_drain_layer')
for _, loaded in ipairs(modules.list()) do
	if loaded == 'edns_keepalive' then drain.keepalive = true end
end
if drain.keepalive then modules.unload('edns_keepalive') end

-- 1. UDP steered away (and the TCP listeners noted).
for _, fd in ipairs(descriptors()) do
	local ours = name(C.getsockname, fd) and ports[port_of(sockaddr)]
	if ours and option(fd, SO_TYPE) == SOCK_STREAM and option(fd, SO_ACCEPTCONN) == 1 then
		table.insert(drain.tcp_listeners, { fd = fd, here = key_of(sockaddr) })
	elseif ours and option(fd, SO_TYPE) == SOCK_DGRAM then
		local never = ffi.new('uint8_t[28]')
		never[0] = sockaddr[0]
		never[3] = 9
		if sockaddr[0] == AF_INET then
			never[4], never[7] = 127, 1
		else
			never[23] = 1
		end
		if C.connect(fd, never, sockaddr[0] == AF_INET and 16 or 28) == 0 then
			table.insert(drain.udp_sockets, fd)
		end
	end
end

-- Whether the descriptor `fd` is still the socket with own address `here` (and peer `there`).
local function still(fd, here, there)
	return name(C.getsockname, fd) and key_of(sockaddr) == here
		and (there == nil or (name(C.getpeername, fd) and key_of(sockaddr) == there))
end

-- The accepted connections of our listeners.
local function accepted()
	local connections = {}
	for _, fd in ipairs(descriptors()) do
		if name(C.getsockname, fd) and ports[port_of(sockaddr)] and option(fd, SO_TYPE) == SOCK_STREAM
			and option(fd, SO_ACCEPTCONN) == 0 then
			local here = key_of(sockaddr)
			if name(C.getpeername, fd) then
				table.insert(connections, { fd = fd, here = here, there = key_of(sockaddr) })
			end
		end
	end
	return connections
end

-- 2. Each listener closed once nothing waits in its accept queue; true when all are.
local null = -1
local function close_listeners()
	local open = {}
	for _, listener in ipairs(drain.tcp_listeners) do
		if still(listener.fd, listener.here) then
			if (waiting_to_be_accepted(listener.fd) or 1) == 0 then
				if null < 0 then null = C.open('/dev/null', O_CLOEXEC) end
				if null < 0 or C.dup3(null, listener.fd, O_CLOEXEC) < 0 then
					error('cannot close a listener: ' .. ffi.errno(), 0)
				end
			else
				table.insert(open, listener)
			end
		end
	end
	drain.tcp_listeners = open
	return #open == 0
end

local function udp_quiet()
	if drain.udp > 0 then return false end
	for _, fd in ipairs(drain.udp_sockets) do
		if (unread(fd) or 0) > 0 then return false end
	end
	return true
end

local function step(timer)
	-- The counts cannot be trusted after a failure: nothing more is closed.
	if drain.error then error(drain.error, 0) end
	if drain.phase == 'listening' then
		if not close_listeners() then return end
		drain.phase = 'closing'
		drain.listeners_closed_at = now()
		drain.connections = accepted()
		drain.found = #drain.connections
	end
	local in_progress = worker.stats().concurrent
	if not drain.all_tracked then
		if in_progress > drain.tracked then return end
		drain.all_tracked = true
	end
	-- 4. Each connection shut down once nothing is in flight on it. An answer finished but not
	-- yet written (kresd counts it, the layer no longer) could be any connection's.
	local unwritten = in_progress - drain.tracked
	local time = now()
	local open = {}
	for _, connection in ipairs(drain.connections) do
		if still(connection.fd, connection.here, connection.there) then
			local client = drain.clients[connection.there]
			local may_hear_go = client == nil or client.keepalive
			local silent = time - math.max(client and client.last or 0, drain.listeners_closed_at) >= GRACE
			if not connection.shut and unwritten == 0 and not drain.inflight[connection.there]
				and unread(connection.fd) == 0 and (silent or not may_hear_go) then
				C.shutdown(connection.fd, SHUT_RDWR)
				connection.shut = true
				drain.closed = drain.closed + 1
			end
			table.insert(open, connection)
		end
	end
	drain.connections = open
	-- 5. Done.
	if #open == 0 and in_progress == 0 and udp_quiet() then
		drain.phase = 'done'
		event.cancel(timer)
	end
end
drain.timer = event.recurrent(1, function(timer)
	local ok, err = pcall(step, timer)
	if not ok then
		drain.phase, drain.error = 'failed', tostring(err)
		event.cancel(timer)
	end
end)

-- For the manager: how far the drain got.
function kres_manager_drain_status()
	return {
		phase = drain.phase,
		connections = #drain.connections,
		found = drain.found,
		closed = drain.closed,
		in_progress = worker.stats().concurrent,
		error = drain.error,
	}
end
return #drain.udp_sockets
