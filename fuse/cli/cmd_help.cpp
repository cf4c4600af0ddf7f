// help-config, and the hidden help-all and completion: text generated from the command tree and
// the config defaults, so the packaged man pages and bash completion cannot drift from the CLI.
// packaging/man/gen-man.sh turns help-config into ipfskit.conf(5) and help-all into the
// COMMANDS section of ipfskit(1); packaging/install.cmake runs `completion bash`.
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/infer/engine.h"
#include "fuse/cli/cli.h"

namespace ipfskit::cli {
namespace {

using json = nlohmann::json;

// One line per key of DefaultConfigJson(); PrintConfigHelp fails on a key missing here, so a key
// added to core/config cannot ship undocumented.
struct KeyDoc {
  const char* key;
  const char* text;
};
constexpr KeyDoc kKeyDocs[] = {
    {"gateways",
     "Trustless HTTP gateways (list of http:// or https:// URLs), tried in order after the repo "
     "and Kubo. [] means none. Env IPFSKIT_GATEWAYS (comma list), flag --gateway (repeatable), "
     "mount -o gateway=URL."},
    {"kubo_api",
     "Kubo RPC API URL, or null for none. Left at the default it is used only when it answers a "
     "probe at startup; set explicitly it is always used. Env IPFSKIT_KUBO_API (\"\" or \"none\": "
     "none), flag --kubo-api, mount -o kubo_api=URL."},
    {"offline",
     "true: no network source at all, whatever gateways and kubo_api say. Env IPFSKIT_OFFLINE "
     "(1/0, true/false, yes/no), flag --offline, mount -o offline."},
    {"cache.max_bytes",
     "Size of the block cache in the repo for blocks fetched from the network; least useful "
     "blocks are evicted beyond it (pinned and added blocks are not cache). Env "
     "IPFSKIT_CACHE_MAX_BYTES also takes 512M, 2G, 1.5GiB."},
    {"cache.verify_on_read", "true: re-hash every cached block when it is read (costs CPU)."},
    {"net.request_timeout_ms", "Limit on one HTTP request to a gateway or Kubo."},
    {"net.connect_timeout_ms", "Limit on connecting to a source."},
    {"net.overall_timeout_ms",
     "Limit on getting one block over all sources and retries; then the read fails with EIO. "
     "mount -o timeout=SECS sets it for a mount."},
    {"net.low_speed_bytes",
     "A transfer slower than this many bytes/s for net.low_speed_seconds is aborted and the next "
     "source tried."},
    {"net.low_speed_seconds", "See net.low_speed_bytes."},
    {"net.max_rounds", "Passes over the source list before a block is given up."},
    {"net.hedge_after_ms",
     "A block the first source has not sent after this long (or twice its usual latency) is asked "
     "of the next source too; the first verified answer wins. 0 turns this off."},
    {"net.retry_base_ms", "Wait before the second pass, doubling each pass up to net.retry_max_ms."},
    {"net.retry_max_ms", "Longest wait between passes."},
    {"net.backoff_base_ms",
     "A source that failed is skipped for this long, doubling on each further failure up to "
     "net.backoff_max_ms."},
    {"net.backoff_max_ms", "Longest time a failing source is skipped."},
    {"net.max_inflight", "Blocks fetched from the network at the same time (positive)."},
    {"net.max_connections", "HTTP connections kept open in all."},
    {"net.max_host_connections", "HTTP connections to one host."},
    {"net.prefetch_workers", "Threads that fetch the blocks a read is about to need."},
    {"net.prefetch_queue", "Blocks queued for prefetch; more are dropped (counted in /.ipfskit/stats)."},
    {"net.car_stream_window_bytes",
     "A sequential reader of remote content asks a gateway for this many bytes ahead as one CAR "
     "(dag-scope=entity, entity-bytes); 0: block by block."},
    {"net.car_tree_max_bytes",
     "A listed directory whose remote content is at most this big comes as one dag-scope=all CAR; 0: never."},
};

void FlattenKeys(const json& j, const std::string& prefix, std::vector<std::pair<std::string, json>>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object())
      FlattenKeys(*it, path, out);
    else
      out.emplace_back(path, *it);
  }
}

// Indented paragraph, wrapped at 78 columns.
void PrintWrapped(std::ostream& os, const std::string& text, size_t indent) {
  std::istringstream words(text);
  std::string word, line;
  for (; words >> word;) {
    if (!line.empty() && indent + line.size() + 1 + word.size() > 78) {
      os << std::string(indent, ' ') << line << "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) os << std::string(indent, ' ') << line << "\n";
}

// The text of ipfskit.conf(5); gen-man.sh makes a heading (column 0, ending in ':') a section,
// a "Keys:" item (2 spaces) a tagged paragraph with its text (6 spaces), other indented lines
// verbatim blocks.
int PrintConfigHelp() {
  std::ostream& os = std::cout;
  std::vector<std::pair<std::string, json>> keys;
  FlattenKeys(DefaultConfigJson(), "", keys);
  for (const auto& [key, value] : keys) {
    bool documented = false;
    for (const auto& d : kKeyDocs) documented |= key == d.key;
    if (!documented) {
      std::fprintf(stderr, "Error: config key %s has no description in fuse/cli/cmd_help.cpp\n", key.c_str());
      return 1;
    }
  }
  os << "The configuration of ipfskit(1): where blocks come from and how much to cache. Both files\n"
        "are optional JSON objects in which every key is optional; // comments are allowed.\n"
        "\n"
        "Precedence:\n"
        "  Lowest first; each layer overrides only the keys it sets, and objects merge key by key\n"
        "  (a repo file that sets only \"cache\": {\"max_bytes\": ...} keeps the gateways from /etc):\n"
        "  1. the built-in defaults listed below\n"
        "  2. /etc/ipfskit/config.json (the packaged file; a conffile kept on upgrade)\n"
        "  3. $IPFSKIT_PATH/config.json, the repo's own file (the repo is --repo, else\n"
        "     $IPFSKIT_PATH, else $XDG_DATA_HOME/ipfskit, else ~/.local/share/ipfskit)\n"
        "  4. the environment variables named below\n"
        "  5. command-line flags and mount -o options\n"
        "  A file that is not valid JSON or has a key of the wrong type is an error naming the file;\n"
        "  a missing file is skipped. 'offline' wins over every source setting.\n"
        "\n"
        "Keys:\n";
  for (const auto& [key, value] : keys) {
    os << "  " << key << " (default " << value.dump() << ")\n";
    for (const auto& d : kKeyDocs)
      if (key == d.key) PrintWrapped(os, d.text, 6);
  }
  infer::EngineLimits limits;
  os << "  infer.aliases (default {})\n";
  PrintWrapped(os, "Model names for /infer and ipfskit infer: {\"minilm\": \"bafy...\"} maps a name to the "
                   "CID of a sentence-transformers folder.", 6);
  os << "  infer.memory_bytes (default " << limits.model_memory_bytes << ")\n";
  PrintWrapped(os, "Memory for loaded models (host and accelerator); least recently used models are "
                   "unloaded beyond it.", 6);
  os << "  infer.max_job_bytes (default " << limits.max_job_bytes << ")\n";
  PrintWrapped(os, "Largest input of one /infer job (all its lines together).", 6);
  const std::pair<const char*, const char*> remote_docs[] = {
      {"infer.remote (default [])",
       "URLs of `ipfskit serve --api` nodes (\"http://gpu-node:5080\"). Each /infer job goes to the first "
       "one not marked down (POST /v1/embeddings, base64), then the next, then this node's own engine; a "
       "remote that fails (refused, timeout, 5xx, a malformed answer) is skipped for infer.remote_backoff_ms. "
       "/.ipfskit/stats shows infer.remote: jobs per remote, failures, fallbacks."},
      {"infer.remote_timeout_ms (default 30000)", "Total time one remote may take for one job."},
      {"infer.remote_connect_timeout_ms (default 2000)", "Connect timeout to a remote."},
      {"infer.remote_backoff_ms (default 30000)", "How long a failed remote is skipped."},
      {"infer.remote_token (default none)", "Bearer token sent to the remotes."},
      {"infer.remote_threads (default 8)", "Jobs on the wire to remotes at once."},
      {"infer.remote_max_inputs (default 512)",
       "Inputs per request to a remote; a larger job goes in several requests to the same remote."},
      {"serve.embeddings.tokens (default [])",
       "Bearer tokens the embeddings API of `serve --api` accepts; when set, a request without one is 401."},
      {"serve.embeddings.default_model (default none)",
       "Model of POST /embed without ?model= (else the only alias, when there is exactly one)."},
      {"serve.embeddings.max_inputs (default 2048)", "Inputs per embeddings request."},
      {"serve.embeddings.timeout_ms (default 120000)", "The longest an embeddings request waits (504 after)."},
  };
  for (const auto& [k, text] : remote_docs) {
    os << "  " << k << "\n";
    PrintWrapped(os, text, 6);
  }
  // Durations below take Go duration strings ("5m", "48h") or integer milliseconds.
  const std::pair<const char*, const char*> ipns_docs[] = {
      {"ipns.routers (default [])",
       "Delegated routing v1 endpoints asked for IPNS records (GET URL/routing/v1/ipns/NAME), in parallel "
       "with the gateways (GET /ipns/NAME?format=ipns-record) and Kubo (name/get, when kubo_api is set "
       "explicitly and ipns.kubo is true). Every record is verified locally."},
      {"ipns.publishers (default [])",
       "Delegated routing v1 endpoints our records are PUT to by name publish, the mount and the republisher."},
      {"ipns.max_cache_ttl (default none)", "Cap on how long a record or DNSLink answer counts as fresh."},
      {"ipns.serve_expired (default false)",
       "Serve the last verified record after its EOL when no source has a newer one (age in user.ipns.age)."},
      {"ipns.timeout_ms (default 5000)", "Per-source timeout of a record lookup or push."},
      {"ipns.grace_ms (default 10)", "How long to wait for better records after the first valid one (a better one arriving later still replaces the cached record)."},
      {"ipns.kubo (default true)", "Ask Kubo (kubo_api) for records and push records to it."},
      {"ipns.record_lifetime (default \"48h\")", "EOL of the records the mount and republisher sign."},
      {"ipns.republish_period (default \"4h\")", "How often own records are re-signed (1m to 24h)."},
      {"ipns.dns_max_stale (default \"168h\")",
       "How long a DNSLink value is served when every DNS resolver fails."},
      {"dns.resolvers (default {\".\": \"system\"})",
       "DNSLink resolvers by domain suffix, as Kubo's DNS.Resolvers: {\"eth.\": \"https://dns.example/dns-query\", "
       "\".\": \"system\"}. A value is a DNS-over-HTTPS URL (https:// or http://; POST, or GET with a "
       "#get suffix), udp://HOST:PORT for one DNS server, or system (resolv.conf)."},
      {"dns.timeout_ms (default 5000)", "Timeout of one DNS lookup."},
  };
  for (const auto& [k, d] : ipns_docs) {
    os << "  " << k << "\n";
    PrintWrapped(os, d, 6);
  }
  const std::pair<const char*, const char*> pinning_docs[] = {
      {"serve.pinning.tokens (default [])",
       "Bearer tokens the Pinning Services API of 'ipfskit serve --api' (/pins) accepts; with none, every "
       "request is refused (401)."},
      {"serve.pinning.workers (default 2)", "Pin requests whose DAGs are fetched at once."},
      {"serve.pinning.max_active (default 1000)", "Queued and pinning requests at most; more are refused (429)."},
      {"Pinning.RemoteServices (default {})",
       "The services of 'ipfskit pin remote', as Kubo keeps them: {\"NAME\": {\"API\": {\"Endpoint\": URL, "
       "\"Key\": TOKEN}}}; written by 'pin remote service add' (config.json becomes mode 0600)."},
  };
  for (const auto& [k, d] : pinning_docs) {
    os << "  " << k << "\n";
    PrintWrapped(os, d, 6);
  }
  os << "\n"
        "Other keys are kept as they are and ignored.\n"
        "\n"
        "Environment:\n"
        "  IPFSKIT_PATH             the repo directory, whose config.json is layer 3\n"
        "  IPFSKIT_GATEWAYS         gateways, comma separated; empty: none\n"
        "  IPFSKIT_KUBO_API         kubo_api; empty or \"none\": none\n"
        "  IPFSKIT_OFFLINE          offline\n"
        "  IPFSKIT_CACHE_MAX_BYTES  cache.max_bytes\n"
        "\n"
        "Example:\n"
        "  {\n"
        "    \"gateways\": [\"https://trustless-gateway.link\"],\n"
        "    \"kubo_api\": null,\n"
        "    \"cache\": {\"max_bytes\": 10737418240},\n"
        "    \"net\": {\"overall_timeout_ms\": 120000},\n"
        "    \"infer\": {\"aliases\": {\"minilm\": \"bafybei...\"}},\n"
        "    \"ipns\": {\"routers\": [\"https://delegated-ipfs.dev\"], \"max_cache_ttl\": \"1h\"},\n"
        "    \"dns\": {\"resolvers\": {\".\": \"https://cloudflare-dns.com/dns-query\"}}\n"
        "  }\n"
        "\n"
        "Files:\n"
        "  /etc/ipfskit/config.json        system-wide settings\n"
        "  $IPFSKIT_PATH/config.json       per-repo settings (/var/lib/ipfskit/config.json for the\n"
        "                                  ipfskit.service system unit)\n"
        "\n"
        "See also:\n"
        "  ipfskit(1); 'ipfskit help-config' prints this text.\n";
  return 0;
}

// Subcommands in the order they were registered; `hidden` includes those with an empty group.
std::vector<CLI::App*> Children(CLI::App* app, bool hidden) {
  return app->get_subcommands([hidden](CLI::App* s) { return hidden || !s->get_group().empty(); });
}

void PrintAllHelp(CLI::App* app, const std::string& path) {
  for (CLI::App* sub : Children(app, false)) {
    std::string name = path + " " + sub->get_name();
    std::cout << "### " << name << "\n" << sub->help(path) << "\n";  // help() appends the name
    PrintAllHelp(sub, name);
  }
}

// Bash completion: a table of the command tree (children, options, options that take a value)
// and one function that walks the words typed so far through it.
struct OptionWords {
  std::string all, valued;  // space separated, each with a leading space
};

OptionWords OptionsOf(const CLI::App* app, bool with_help) {
  OptionWords w;
  for (const CLI::Option* o : app->get_options([](const CLI::Option* o) { return o->nonpositional(); })) {
    if (!with_help && o == app->get_help_ptr()) continue;
    std::vector<std::string> spellings;
    for (const auto& s : o->get_snames()) spellings.push_back("-" + s);
    for (const auto& l : o->get_lnames()) spellings.push_back("--" + l);
    for (const auto& s : spellings) {
      w.all += " " + s;
      if (o->get_expected_min() > 0) w.valued += " " + s;
    }
  }
  return w;
}

// main.cpp makes the root's options fall through, so they parse after any subcommand too:
// `inherited` is offered at every level below the root.
void CollectCompletion(CLI::App* app, const std::string& path, const OptionWords& inherited,
                       std::ostream& children, std::ostream& options, std::ostream& valued) {
  std::string names;
  for (CLI::App* sub : Children(app, false)) {
    names += " " + sub->get_name();
    for (const auto& a : sub->get_aliases()) names += " " + a;
  }
  OptionWords own = OptionsOf(app, true);
  std::string opts = own.all, vals = own.valued;
  if (!path.empty()) opts += inherited.all, vals += inherited.valued;
  auto strip = [](const std::string& s) { return s.empty() ? s : s.substr(1); };
  children << "    '" << path << "') echo '" << strip(names) << "' ;;\n";
  options << "    '" << path << "') echo '" << strip(opts) << "' ;;\n";
  if (!vals.empty()) valued << "    '" << path << "') echo '" << strip(vals) << "' ;;\n";
  for (CLI::App* sub : Children(app, false)) {
    std::vector<std::string> spellings{sub->get_name()};
    for (const auto& a : sub->get_aliases()) spellings.push_back(a);
    for (const auto& s : spellings)
      CollectCompletion(sub, path.empty() ? s : path + " " + s, inherited, children, options, valued);
  }
}

void PrintBashCompletion(CLI::App* root) {
  std::ostringstream children, options, valued;
  CollectCompletion(root, "", OptionsOf(root, false), children, options, valued);
  std::cout << "# bash completion for ipfskit(1). Generated by 'ipfskit completion bash'; do not edit.\n"
               "_ipfskit_children() {\n  case \"$1\" in\n"
            << children.str()
            << "  esac\n}\n_ipfskit_options() {\n  case \"$1\" in\n"
            << options.str()
            << "  esac\n}\n_ipfskit_valued() {\n  case \"$1\" in\n"
            << valued.str()
            << "  esac\n}\n"
               "_ipfskit() {\n"
               "  local cur prev words cword\n"
               "  _init_completion || return\n"
               "  local path='' i w kids\n"
               "  for ((i = 1; i < cword; i++)); do\n"
               "    w=${words[i]}\n"
               "    if [[ $w == -* ]]; then\n"
               "      [[ $w != *=* && \" $(_ipfskit_valued \"$path\") \" == *\" $w \"* ]] && ((i++))\n"
               "      continue\n"
               "    fi\n"
               "    kids=\" $(_ipfskit_children \"$path\") \"\n"
               "    [[ $kids == *\" $w \"* ]] && path=${path:+$path }$w\n"
               "  done\n"
               "  if [[ \" $(_ipfskit_valued \"$path\") \" == *\" $prev \"* ]]; then\n"
               "    _filedir\n"
               "    return\n"
               "  fi\n"
               "  if [[ $cur == -* ]]; then\n"
               "    COMPREPLY=($(compgen -W \"$(_ipfskit_options \"$path\")\" -- \"$cur\"))\n"
               "    return\n"
               "  fi\n"
               "  kids=$(_ipfskit_children \"$path\")\n"
               "  if [[ -n $kids ]]; then\n"
               "    COMPREPLY=($(compgen -W \"$kids\" -- \"$cur\"))\n"
               "    [[ ${#COMPREPLY[@]} -gt 0 ]] && return\n"
               "  fi\n"
               "  _filedir\n"
               "}\n"
               "complete -F _ipfskit ipfskit\n";
}

}  // namespace

void RegisterHelpCommands(CLI::App& app, Context& ctx) {
  CLI::App* root = &app;
  app.add_subcommand("help-config", "Describe the config file (the text of ipfskit.conf(5)).")
      ->callback([&ctx] { ctx.exit_code = PrintConfigHelp(); });
  // Hidden (empty group): inputs of the packaging build, not commands for users.
  app.add_subcommand("help-all", "Print the help of every command.")
      ->group("")
      ->callback([root] { PrintAllHelp(root, "ipfskit"); });
  auto shell = std::make_shared<std::string>();
  auto* completion = app.add_subcommand("completion", "Print a shell completion script.")->group("");
  completion->add_option("shell", *shell, "bash")->required()->check(CLI::IsMember({"bash"}));
  completion->callback([root, shell] { PrintBashCompletion(root); });  // keeps *shell alive
}

}  // namespace ipfskit::cli
