# Stops the system mount before its binary is removed (erase, not upgrade).
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
  systemctl stop ipfskit.service ipfskit-republish.timer >/dev/null 2>  systemctl stop ipfskit.service >/dev/null 2>&1 || :1 || :
fi
